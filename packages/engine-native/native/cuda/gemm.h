// bf16 GEMMs through cuBLASLt: Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]) with fp32 accumulation and one
// rounding to bf16 (the bias is added in fp32 by the epilogue, as torch's fused addmm does).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

namespace grail {
namespace cuda {

class LtGemm {
 public:
  explicit LtGemm(cudaStream_t stream);
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  void run(const __nv_bfloat16* X, int64_t M, int K, const __nv_bfloat16* W, int N, const __nv_bfloat16* bias,
           __nv_bfloat16* Y, int64_t ldy);
  size_t workspaceBytes() const { return workspaceBytes_; }

 private:
  struct Plan;
  cudaStream_t stream_;
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspaceBytes_ = 0;
  std::map<std::tuple<int64_t, int, int, int64_t, bool>, std::unique_ptr<Plan>> plans_;
};

}  // namespace cuda
}  // namespace grail
