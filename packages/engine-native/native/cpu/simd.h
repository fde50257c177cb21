// 8 fp32 lanes through GCC/Clang vector extensions: portable, mapped to AVX or NEON registers.
#pragma once

#include <cstring>

namespace grail {

typedef float v8f __attribute__((vector_size(32)));

inline v8f load8(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline float hsum8(v8f v) {
  float s = 0.f;
  for (int l = 0; l < 8; ++l) s += v[l];
  return s;
}

// fp32 dot product with 8 partial sums (order differs from a sequential sum only at the fp32 level).
inline float dot_f32(const float* a, const float* b, int n) {
  v8f acc{};
  int i = 0;
  for (; i + 8 <= n; i += 8) acc += load8(a + i) * load8(b + i);
  float s = hsum8(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace grail
