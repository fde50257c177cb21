// Launchers of the forward-pass kernels. Each kernel does one job; tensors are bf16 unless named
// otherwise, rows of packed tokens (all sequences of a batch back to back, no padding).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/forward_plan.h"  // AttnSegment

namespace grail {
namespace cuda {

using bf16 = __nv_bfloat16;

// h[t] = embed[tokens[t]]
void embed_gather(const int32_t* tokens, const bf16* embed, bf16* h, int64_t T, int H, cudaStream_t s);

// With d: h = bf16(h + d) (the residual add). Then out[r] = bf16(w · bf16(h[r] · rsqrt(mean(h[r]²) + eps))) for
// rows of n elements (h and d dense, out with row stride ldOut).
void add_rmsnorm(bf16* h, const bf16* d, const bf16* w, bf16* out, int64_t ldOut, int64_t rows, int n, float eps,
                 cudaStream_t s);

// On the packed [q | k | v] rows: optional per-head rmsnorm (Qwen3 q/k norm), then rotate-half RoPE with
// bf16 cos/sin tables [positions, headDim/2] at each token's position inside its sequence.
void qk_norm_rope(bf16* qkv, int64_t T, int ld, int nq, int nk, int hd, const int32_t* pos, const bf16* cosT,
                  const bf16* sinT, const bf16* qNorm, const bf16* kNorm, float eps, cudaStream_t s);

// Which attention kernel runs (attention.cu): Auto picks the tensor-core one where the device and head_dim
// allow it; tests name one to compare both with the CPU reference.
enum class AttentionKernel { Auto, TensorCore, CudaCore };

// Causal GQA attention over segments (AttnSegment, ../common/forward_plan.h; a device array): fp32 scores and softmax over 128-key blocks of
// positions, unnormalised probabilities rounded to bf16 for the product with V, fp32 accumulation, out
// rounded to bf16. maxQLen: the longest segment's qLen.
void attention(const bf16* qkv, int ldQkv, const AttnSegment* segs, int nseg, int maxQLen, int nq, int nk, int hd,
               float scale, bf16* out, int ldOut, cudaStream_t s, AttentionKernel kernel = AttentionKernel::Auto);
bool attention_supports(int hd);

// m[t, i] = bf16(bf16(silu(g)) · u) with g = gu[t, i], u = gu[t, I + i]
void silu_mul(const bf16* gu, bf16* m, int64_t T, int I, cudaStream_t s);

// sVals[t] = GRAIL sketch of row t of hl (top-16 |h|, lower index first on ties).
void sketch(const bf16* hl, int64_t T, int H, const int32_t* rvec, uint32_t* sVals, cudaStream_t s);

// dst[r] = src[rows[r]] for rows of H elements.
void gather_rows(const bf16* src, const int64_t* rows, int64_t M, int H, bf16* dst, cudaStream_t s);

// Per logits row r (bf16, V wide): logprob of targets[r] into logprobs[lpAt[r]] when lpAt[r] >= 0, and the
// softmax probability of eos into eosProb[eosSeq[r]] when eosSeq[r] >= 0 and eos >= 0.
void logit_reduce(const bf16* logits, int64_t M, int V, const int32_t* targets, const int64_t* lpAt,
                  const int32_t* eosSeq, int eos, float* logprobs, double* eosProb, cudaStream_t s);

// fp32 copy of bf16 values.
void to_float(const bf16* src, float* dst, int64_t n, cudaStream_t s);

}  // namespace cuda
}  // namespace grail
