// Error checks for CUDA runtime and cuBLASLt calls: failures become EngineExceptions that say where.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "../common/engine.h"

namespace grail {

inline void cuda_check(cudaError_t e, const char* what, const char* file, int line) {
  if (e == cudaSuccess) return;
  const std::string where = std::string(what) + " at " + file + ":" + std::to_string(line);
  if (e == cudaErrorMemoryAllocation) {
    throw EngineException("out_of_memory", "GPU memory exhausted (" + where +
                                               "); prove smaller batches or use a GPU with more memory");
  }
  throw EngineException("cuda_error", std::string("CUDA error ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e) +
                                          " (" + where + ")");
}

}  // namespace grail

#define CUDA_CHECK(expr) ::grail::cuda_check((expr), #expr, __FILE__, __LINE__)
#define CUDA_CHECK_LAUNCH() ::grail::cuda_check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
