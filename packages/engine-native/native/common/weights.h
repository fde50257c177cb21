// Reading safetensors tensor data (located and validated by the TypeScript loader) and converting it
// to bfloat16, the precision the engine computes in.
#pragma once

#include <cstdint>
#include <vector>

#include "engine.h"

namespace grail {

// Reads the tensor and writes its values as bf16 bits into dst (numel entries).
void read_tensor_bf16(const TensorSource& src, uint16_t* dst);
// Same, but as floats holding bf16-exact values (the CPU backend's storage).
void read_tensor_as_bf16_floats(const TensorSource& src, float* dst);

// Resizes storage to n elements and reports whether memory had to be (re)allocated.
template <typename T>
bool ensure_size(std::vector<T>& v, size_t n) {
  if (v.size() == n) return false;
  v.assign(n, T{});
  v.shrink_to_fit();
  return true;
}

}  // namespace grail
