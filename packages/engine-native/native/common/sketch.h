// GRAIL sketch of one hidden vector (protocol §2.6-2.7): top-16 |h| (ties: lower index first), indices
// ascending, log-magnitude buckets in float64, dot with r_vec, non-negative mod PRIME_Q.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define GRAIL_HD __host__ __device__
#else
#define GRAIL_HD
#endif

namespace grail {

constexpr int kTopK = 16;
constexpr int64_t kPrimeQ = 2147483647;

GRAIL_HD inline int log_magnitude_bucket(float xf) {
  const double x = static_cast<double>(xf);
  if (x != x) return 0;
  const double a = fabs(x);
  if (a > 1.7976931348623157e308) return x > 0 ? 7 : -7;  // ±inf
  if (a < 1e-6) return 0;
  double b = trunc(log2(a + 1.0) * 0.8);
  if (b < 0) b = 0;
  if (b > 7) b = 7;
  const int bi = static_cast<int>(b);
  return x >= 0 ? bi : -bi;
}

GRAIL_HD inline uint32_t sketch_mod_q(int64_t dot) {
  int64_t m = dot % kPrimeQ;
  if (m < 0) m += kPrimeQ;
  return static_cast<uint32_t>(m);
}

// Sketch of the 16 selected entries, given their indices sorted ascending.
GRAIL_HD inline uint32_t sketch_from_selected(const float* h, const int* idxSorted, const int32_t* rvec) {
  int64_t dot = 0;
  for (int j = 0; j < kTopK; ++j) dot += static_cast<int64_t>(log_magnitude_bucket(h[idxSorted[j]])) * rvec[j];
  return sketch_mod_q(dot);
}

// Host version over a row of n floats.
inline uint32_t sketch_row(const float* h, int n, const int32_t* rvec) {
  float bestVal[kTopK];
  int bestIdx[kTopK];
  int count = 0;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(h[i]);
    if (count == kTopK && !(a > bestVal[kTopK - 1])) continue;  // equal magnitude: the earlier index stays
    int pos = count < kTopK ? count++ : kTopK - 1;
    while (pos > 0 && a > bestVal[pos - 1]) {
      bestVal[pos] = bestVal[pos - 1];
      bestIdx[pos] = bestIdx[pos - 1];
      --pos;
    }
    bestVal[pos] = a;
    bestIdx[pos] = i;
  }
  // rows shorter than 16 cannot happen for real models; pad defensively with the first indices
  for (; count < kTopK; ++count) bestIdx[count] = 0;
  for (int i = 1; i < kTopK; ++i) {  // insertion sort by index
    const int v = bestIdx[i];
    int j = i;
    while (j > 0 && bestIdx[j - 1] > v) {
      bestIdx[j] = bestIdx[j - 1];
      --j;
    }
    bestIdx[j] = v;
  }
  return sketch_from_selected(h, bestIdx, rvec);
}

}  // namespace grail
