// Forward-pass kernels of the CUDA backend. Each one mirrors a step of the CPU backend
// (native/cpu/cpu_backend.cpp) with the same rounding points; kernel_test.cu compares them.
#include <cfloat>

#include "../common/sketch.h"
#include "cuda_check.h"
#include "kernels.cuh"

namespace grail {
namespace cuda {
namespace {

__device__ __forceinline__ float bf(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 rn(float x) { return __float2bfloat16_rn(x); }
__device__ __forceinline__ float round_bf(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum; every thread gets the result. blockDim.x must be a multiple of 32.
__device__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < nw ? scratch[lane] : 0.f;
  t = warp_sum(t);
  return t;
}
__device__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < nw ? scratch[lane] : -FLT_MAX;
  t = warp_max(t);
  return t;
}

// ---------------------------------------------------------------------------------------------------------
__global__ void embed_gather_kernel(const int32_t* tokens, const bf16* embed, bf16* h, int H) {
  const int64_t t = blockIdx.x;
  const bf16* src = embed + static_cast<int64_t>(tokens[t]) * H;
  bf16* dst = h + t * H;
  for (int i = threadIdx.x; i < H; i += blockDim.x) dst[i] = src[i];
}

// ---------------------------------------------------------------------------------------------------------
__global__ void rmsnorm_kernel(const bf16* in, int64_t ldIn, const bf16* w, bf16* out, int64_t ldOut, int n,
                               float eps) {
  __shared__ float scratch[32];
  const bf16* x = in + blockIdx.x * ldIn;
  bf16* y = out + blockIdx.x * ldOut;
  float ss = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = bf(x[i]);
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
  for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] = rn(bf(w[i]) * round_bf(bf(x[i]) * inv));
}

// ---------------------------------------------------------------------------------------------------------
// One block per (token, head), one thread per rotation pair (i, i + hd/2).
__global__ void qk_norm_rope_kernel(bf16* qkv, int ld, int nq, int hd, const int32_t* pos, const bf16* cosT,
                                    const bf16* sinT, const bf16* qNorm, const bf16* kNorm, float eps) {
  __shared__ float scratch[32];
  const int64_t t = blockIdx.x;
  const int head = blockIdx.y;
  const int half = hd / 2;
  const int i = threadIdx.x;
  bf16* x = qkv + t * ld + static_cast<int64_t>(head) * hd;  // k heads follow the q heads
  float a = i < half ? bf(x[i]) : 0.f;
  float b = i < half ? bf(x[i + half]) : 0.f;
  if (qNorm != nullptr) {
    const float ss = block_sum(a * a + b * b, scratch);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(hd) + eps);
    const bf16* w = head < nq ? qNorm : kNorm;
    if (i < half) {
      a = round_bf(bf(w[i]) * round_bf(a * inv));
      b = round_bf(bf(w[i + half]) * round_bf(b * inv));
    }
  }
  if (i < half) {
    const int64_t p = pos[t];
    const float c = bf(cosT[p * half + i]);
    const float s = bf(sinT[p * half + i]);
    x[i] = rn(round_bf(a * c) + round_bf(-b * s));
    x[i + half] = rn(round_bf(b * c) + round_bf(a * s));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Attention: a block takes kQTile consecutive queries of one head of one sequence; its warps own kQPerWarp
// queries each. K/V tiles of kKTile keys are staged in shared memory (K rows padded by one bf16 pair so
// that lanes reading different keys hit different banks). Softmax is online per tile, as the reference's
// fused SDPA kernel runs it: probabilities against the running max, rounded to bf16 for P·V, earlier
// sums rescaled when the max grows (the CPU backend uses the same 128-key blocks). Lane l scores keys
// l, l+32, l+64, l+96 of the tile and owns output dims l, l+32, ...
constexpr int kWarps = 4;
constexpr int kQPerWarp = 8;
constexpr int kQTile = kWarps * kQPerWarp;
constexpr int kKTile = 128;
constexpr int kKPerLane = kKTile / 32;

template <int HD>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(const bf16* qkv, int ldQkv, const int32_t* cuSeqlens,
                                                                 int nq, int group, float scale, bf16* out, int ldOut) {
  constexpr int kAcc = HD / 32;
  constexpr int kStride = HD + 2;  // padded K row, in bf16
  extern __shared__ unsigned char smem_raw[];
  float* qS = reinterpret_cast<float*>(smem_raw);        // [kQTile][HD]
  bf16* kS = reinterpret_cast<bf16*>(qS + kQTile * HD);  // [kKTile][kStride]
  bf16* vS = kS + kKTile * kStride;                      // [kKTile][HD]

  const int seq = blockIdx.z, head = blockIdx.y;
  const int64_t start = cuSeqlens[seq];
  const int len = cuSeqlens[seq + 1] - cuSeqlens[seq];
  const int q0 = blockIdx.x * kQTile;
  if (q0 >= len) return;
  const int kvHead = head / group;
  const int qd = nq * HD;
  const int kvd = (nq / group) * HD;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  for (int e = threadIdx.x; e < kQTile * HD; e += blockDim.x) {
    const int qi = e / HD, d = e % HD;
    const int q = q0 + qi;
    qS[e] = q < len ? bf(qkv[(start + q) * ldQkv + static_cast<int64_t>(head) * HD + d]) : 0.f;
  }

  float m[kQPerWarp], l[kQPerWarp], acc[kQPerWarp][kAcc];
#pragma unroll
  for (int r = 0; r < kQPerWarp; ++r) {
    m[r] = -FLT_MAX;
    l[r] = 0.f;
#pragma unroll
    for (int a = 0; a < kAcc; ++a) acc[r][a] = 0.f;
  }

  const int lastQ = min(len, q0 + kQTile) - 1;
  for (int k0 = 0; k0 <= lastQ; k0 += kKTile) {
    __syncthreads();
    for (int e = threadIdx.x; e < kKTile * HD; e += blockDim.x) {
      const int j = e / HD, d = e % HD;
      const int key = k0 + j;
      bf16 kv = __float2bfloat16(0.f), vv = __float2bfloat16(0.f);
      if (key < len) {
        const bf16* row = qkv + (start + key) * ldQkv;
        kv = row[qd + static_cast<int64_t>(kvHead) * HD + d];
        vv = row[qd + kvd + static_cast<int64_t>(kvHead) * HD + d];
      }
      kS[j * kStride + d] = kv;
      vS[j * HD + d] = vv;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kQPerWarp; ++r) {
      const int qi = warp * kQPerWarp + r;
      const int q = q0 + qi;
      if (q >= len || k0 > q) continue;  // warp-uniform
      const float* qv = qS + qi * HD;
      float s[kKPerLane];
      float tileMax = -FLT_MAX;
#pragma unroll
      for (int c = 0; c < kKPerLane; ++c) {
        const int key = k0 + c * 32 + lane;
        const __nv_bfloat162* kr = reinterpret_cast<const __nv_bfloat162*>(kS + (c * 32 + lane) * kStride);
        float dot = 0.f;
#pragma unroll 8
        for (int d2 = 0; d2 < HD / 2; ++d2) {
          const float2 kf = __bfloat1622float2(kr[d2]);
          dot += qv[2 * d2] * kf.x + qv[2 * d2 + 1] * kf.y;
        }
        s[c] = key <= q ? dot * scale : -FLT_MAX;
        tileMax = fmaxf(tileMax, s[c]);
      }
      const float mNew = fmaxf(m[r], warp_max(tileMax));
      const float alpha = expf(m[r] - mNew);
      float psum = 0.f;
      float pb[kKPerLane];
#pragma unroll
      for (int c = 0; c < kKPerLane; ++c) {
        const float p = k0 + c * 32 + lane <= q ? expf(s[c] - mNew) : 0.f;
        psum += p;
        pb[c] = round_bf(p);
      }
      l[r] = l[r] * alpha + warp_sum(psum);
      m[r] = mNew;
#pragma unroll
      for (int a = 0; a < kAcc; ++a) acc[r][a] *= alpha;
      const int nkeys = min(kKTile, q - k0 + 1);
#pragma unroll
      for (int c = 0; c < kKPerLane; ++c) {
        const int jEnd = min(32, nkeys - c * 32);
        for (int j = 0; j < jEnd; ++j) {
          const float pj = __shfl_sync(0xffffffffu, pb[c], j);
          const bf16* vr = vS + (c * 32 + j) * HD;
#pragma unroll
          for (int a = 0; a < kAcc; ++a) acc[r][a] += pj * bf(vr[lane + 32 * a]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kQPerWarp; ++r) {
    const int q = q0 + warp * kQPerWarp + r;
    if (q >= len) continue;
    bf16* o = out + (start + q) * ldOut + static_cast<int64_t>(head) * HD;
#pragma unroll
    for (int a = 0; a < kAcc; ++a) o[lane + 32 * a] = rn(acc[r][a] / l[r]);
  }
}

template <int HD>
void launch_attention(const bf16* qkv, int ldQkv, const int32_t* cuSeqlens, int nseq, int maxLen, int nq, int nk,
                      float scale, bf16* out, int ldOut, cudaStream_t s) {
  const size_t smem = sizeof(float) * kQTile * HD + sizeof(bf16) * kKTile * (HD + 2) + sizeof(bf16) * kKTile * HD;
  static bool configured = false;
  if (!configured) {
    CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
    configured = true;
  }
  const dim3 grid((maxLen + kQTile - 1) / kQTile, nq, nseq);
  attention_kernel<HD><<<grid, kWarps * 32, smem, s>>>(qkv, ldQkv, cuSeqlens, nq, nq / nk, scale, out, ldOut);
  CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------------------------------------
__global__ void residual_add_kernel(bf16* h, const bf16* d, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    h[i] = rn(bf(h[i]) + bf(d[i]));
  }
}

__global__ void silu_mul_kernel(const bf16* gu, bf16* m, int64_t T, int I) {
  const int64_t n = T * I;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = e / I;
    const int i = static_cast<int>(e % I);
    const float g = bf(gu[t * 2 * I + i]);
    const float u = bf(gu[t * 2 * I + I + i]);
    const float sg = round_bf(g / (1.0f + expf(-g)));
    m[e] = rn(sg * u);
  }
}

// ---------------------------------------------------------------------------------------------------------
// One block per position: 16 rounds of block arg-max over |h| (larger value first, then lower index),
// then thread 0 sorts the indices and computes buckets, dot and modulus as the protocol does.
constexpr int kSketchThreads = 256;

__device__ __forceinline__ bool better(float v, int i, float bv, int bi) { return v > bv || (v == bv && i < bi); }

__global__ void sketch_kernel(const bf16* hl, int H, const int32_t* rvec, uint32_t* sVals) {
  extern __shared__ float absS[];  // [H]
  __shared__ float redV[kSketchThreads / 32];
  __shared__ int redI[kSketchThreads / 32];
  __shared__ int chosen[kTopK];
  const bf16* row = hl + static_cast<int64_t>(blockIdx.x) * H;
  for (int i = threadIdx.x; i < H; i += blockDim.x) absS[i] = fabsf(bf(row[i]));
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int round = 0; round < kTopK; ++round) {
    float bv = -1.f;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
      const float v = absS[i];
      if (better(v, i, bv, bi)) {
        bv = v;
        bi = i;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (better(ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      redV[warp] = bv;
      redI[warp] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float v = redV[0];
      int idx = redI[0];
      for (int w = 1; w < kSketchThreads / 32; ++w) {
        if (better(redV[w], redI[w], v, idx)) {
          v = redV[w];
          idx = redI[w];
        }
      }
      if (idx >= H) idx = 0;  // only when the row is all NaN
      chosen[round] = idx;
      absS[idx] = -1.f;  // below every |h|: never chosen again
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    int idx[kTopK];
    for (int j = 0; j < kTopK; ++j) idx[j] = chosen[j];
    for (int i = 1; i < kTopK; ++i) {
      const int v = idx[i];
      int j = i;
      while (j > 0 && idx[j - 1] > v) {
        idx[j] = idx[j - 1];
        --j;
      }
      idx[j] = v;
    }
    int64_t dot = 0;
    for (int j = 0; j < kTopK; ++j) dot += static_cast<int64_t>(log_magnitude_bucket(bf(row[idx[j]]))) * rvec[j];
    sVals[blockIdx.x] = sketch_mod_q(dot);
  }
}

// ---------------------------------------------------------------------------------------------------------
__global__ void gather_rows_kernel(const bf16* src, const int64_t* rows, int H, bf16* dst) {
  const bf16* s = src + rows[blockIdx.x] * H;
  bf16* d = dst + static_cast<int64_t>(blockIdx.x) * H;
  for (int i = threadIdx.x; i < H; i += blockDim.x) d[i] = s[i];
}

constexpr int kReduceThreads = 512;

__global__ void logit_reduce_kernel(const bf16* logits, int V, const int32_t* targets, const int64_t* lpAt,
                                    const int32_t* eosSeq, int eos, float* logprobs, double* eosProb) {
  __shared__ float scratch[32];
  const bf16* row = logits + static_cast<int64_t>(blockIdx.x) * V;
  float mx = -FLT_MAX;
  for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, bf(row[v]));
  mx = block_max(mx, scratch);
  float sum = 0.f;
  for (int v = threadIdx.x; v < V; v += blockDim.x) sum += expf(bf(row[v]) - mx);
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) {
    const float logSum = logf(sum);
    const int64_t at = lpAt[blockIdx.x];
    if (at >= 0) logprobs[at] = (bf(row[targets[blockIdx.x]]) - mx) - logSum;
    const int seq = eosSeq[blockIdx.x];
    if (seq >= 0 && eos >= 0) eosProb[seq] = exp(static_cast<double>(bf(row[eos]) - mx) - static_cast<double>(logSum));
  }
}

__global__ void to_float_kernel(const bf16* src, float* dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[i] = bf(src[i]);
  }
}

unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

}  // namespace

void embed_gather(const int32_t* tokens, const bf16* embed, bf16* h, int64_t T, int H, cudaStream_t s) {
  if (T == 0) return;
  embed_gather_kernel<<<static_cast<unsigned>(T), 256, 0, s>>>(tokens, embed, h, H);
  CUDA_CHECK_LAUNCH();
}

void rmsnorm(const bf16* in, int64_t ldIn, const bf16* w, bf16* out, int64_t ldOut, int64_t rows, int n, float eps,
             cudaStream_t s) {
  if (rows == 0) return;
  const int threads = n >= 1024 ? 512 : (n >= 256 ? 256 : 64);
  rmsnorm_kernel<<<static_cast<unsigned>(rows), threads, 0, s>>>(in, ldIn, w, out, ldOut, n, eps);
  CUDA_CHECK_LAUNCH();
}

void qk_norm_rope(bf16* qkv, int64_t T, int ld, int nq, int nk, int hd, const int32_t* pos, const bf16* cosT,
                  const bf16* sinT, const bf16* qNorm, const bf16* kNorm, float eps, cudaStream_t s) {
  if (T == 0) return;
  const int threads = ((hd / 2 + 31) / 32) * 32;
  const dim3 grid(static_cast<unsigned>(T), nq + nk);
  qk_norm_rope_kernel<<<grid, threads, 0, s>>>(qkv, ld, nq, hd, pos, cosT, sinT, qNorm, kNorm, eps);
  CUDA_CHECK_LAUNCH();
}

bool attention_supports(int hd) { return hd == 32 || hd == 64 || hd == 96 || hd == 128 || hd == 256; }

void attention(const bf16* qkv, int ldQkv, const int32_t* cuSeqlens, int nseq, int maxLen, int nq, int nk, int hd,
               float scale, bf16* out, int ldOut, cudaStream_t s) {
  if (nseq == 0 || maxLen == 0) return;
  switch (hd) {
    case 32: return launch_attention<32>(qkv, ldQkv, cuSeqlens, nseq, maxLen, nq, nk, scale, out, ldOut, s);
    case 64: return launch_attention<64>(qkv, ldQkv, cuSeqlens, nseq, maxLen, nq, nk, scale, out, ldOut, s);
    case 96: return launch_attention<96>(qkv, ldQkv, cuSeqlens, nseq, maxLen, nq, nk, scale, out, ldOut, s);
    case 128: return launch_attention<128>(qkv, ldQkv, cuSeqlens, nseq, maxLen, nq, nk, scale, out, ldOut, s);
    case 256: return launch_attention<256>(qkv, ldQkv, cuSeqlens, nseq, maxLen, nq, nk, scale, out, ldOut, s);
    default:
      throw EngineException("unsupported_config", "head_dim " + std::to_string(hd) +
                                                      " is not supported by the CUDA attention kernel (32, 64, 96, "
                                                      "128, 256)");
  }
}

void residual_add(bf16* h, const bf16* d, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  residual_add_kernel<<<grid_for(n, 256), 256, 0, s>>>(h, d, n);
  CUDA_CHECK_LAUNCH();
}

void silu_mul(const bf16* gu, bf16* m, int64_t T, int I, cudaStream_t s) {
  if (T == 0) return;
  silu_mul_kernel<<<grid_for(T * I, 256), 256, 0, s>>>(gu, m, T, I);
  CUDA_CHECK_LAUNCH();
}

void sketch(const bf16* hl, int64_t T, int H, const int32_t* rvec, uint32_t* sVals, cudaStream_t s) {
  if (T == 0) return;
  const size_t smem = sizeof(float) * H;
  if (smem > 48 * 1024) {
    CUDA_CHECK(cudaFuncSetAttribute(sketch_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
  }
  sketch_kernel<<<static_cast<unsigned>(T), kSketchThreads, smem, s>>>(hl, H, rvec, sVals);
  CUDA_CHECK_LAUNCH();
}

void gather_rows(const bf16* src, const int64_t* rows, int64_t M, int H, bf16* dst, cudaStream_t s) {
  if (M == 0) return;
  gather_rows_kernel<<<static_cast<unsigned>(M), 256, 0, s>>>(src, rows, H, dst);
  CUDA_CHECK_LAUNCH();
}

void logit_reduce(const bf16* logits, int64_t M, int V, const int32_t* targets, const int64_t* lpAt,
                  const int32_t* eosSeq, int eos, float* logprobs, double* eosProb, cudaStream_t s) {
  if (M == 0) return;
  logit_reduce_kernel<<<static_cast<unsigned>(M), kReduceThreads, 0, s>>>(logits, V, targets, lpAt, eosSeq, eos,
                                                                          logprobs, eosProb);
  CUDA_CHECK_LAUNCH();
}

void to_float(const bf16* src, float* dst, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  to_float_kernel<<<grid_for(n, 256), 256, 0, s>>>(src, dst, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace grail
