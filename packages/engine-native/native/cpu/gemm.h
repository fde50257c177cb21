#pragma once

#include "thread_pool.h"

namespace grail {

// Y[M,N] = round_bf16(X[M,K] · W[N,K]ᵀ (+ bias[N])): bf16-valued fp32 inputs, fp32 accumulation, the bias
// added in fp32 before the single rounding (torch's fused addmm epilogue). ldy is Y's row stride.
void gemm_bf16_nt(const float* X, int64_t M, int K, const float* W, int N, const float* bias, float* Y, int64_t ldy,
                  ThreadPool& pool);

// Same product without the bf16 rounding of the result (used where the consumer rounds).
void gemm_f32_nt(const float* X, int64_t M, int K, const float* W, int N, float* Y, int64_t ldy, ThreadPool& pool);

}  // namespace grail
