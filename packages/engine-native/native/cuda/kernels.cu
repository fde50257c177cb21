// Forward-pass kernels of the CUDA backend. Each one mirrors a step of the CPU backend
// (native/cpu/cpu_backend.cpp) with the same rounding points; kernel_test.cu compares them.
// The file stays whole (over 400 lines): the kernels and the device helpers they share (block
// reductions, 16-byte bf16 vectors) are file-local, reached only through the launchers at the end;
// split across translation units the helpers would need relocatable device code or copies.
#include <cfloat>

#include "../common/sketch.h"
#include "cuda_check.h"
#include "device_math.cuh"
#include "kernels.cuh"

namespace grail {
namespace cuda {
namespace {

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

// 16-byte vectors of 8 bf16: the memory-bound kernels move whole vectors (rows with n % 8 == 0, 16-byte
// aligned), the scalar variants beside them cover any other width.
__device__ __forceinline__ void load8(const bf16* p, float f[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* b = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 x = __bfloat1622float2(b[k]);
    f[2 * k] = x.x;
    f[2 * k + 1] = x.y;
  }
}
__device__ __forceinline__ void store8(bf16* p, const float f[8]) {
  uint4 raw;
  __nv_bfloat162* b = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int k = 0; k < 4; ++k) b[k] = __floats2bfloat162_rn(f[2 * k], f[2 * k + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}

// ---------------------------------------------------------------------------------------------------------
// h = bf16(h + d) when d is given, then out = bf16(w · bf16(h · rsqrt(mean(h²) + eps))). One block per row;
// each thread keeps kChunks 8-element chunks of the row in registers, so h is read once and written once.
template <int kChunks>
__global__ void add_rmsnorm_kernel(bf16* h, const bf16* d, const bf16* w, bf16* out, int64_t ldOut, int n,
                                   float eps) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  bf16* hr = h + row * n;
  float x[kChunks][8];
  float ss = 0.f;
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int i = (threadIdx.x + c * blockDim.x) * 8;
    if (i >= n) continue;
    load8(hr + i, x[c]);
    if (d != nullptr) {
      float y[8];
      load8(d + row * n + i, y);
#pragma unroll
      for (int k = 0; k < 8; ++k) x[c][k] = round_bf(x[c][k] + y[k]);
      store8(hr + i, x[c]);
    }
#pragma unroll
    for (int k = 0; k < 8; ++k) ss += x[c][k] * x[c][k];
  }
  ss = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int i = (threadIdx.x + c * blockDim.x) * 8;
    if (i >= n) continue;
    float wv[8];
    load8(w + i, wv);
#pragma unroll
    for (int k = 0; k < 8; ++k) x[c][k] = wv[k] * round_bf(x[c][k] * inv);
    store8(out + row * ldOut + i, x[c]);
  }
}

// Any width: the row is read twice (sum of squares, then the normalised values).
__global__ void add_rmsnorm_scalar_kernel(bf16* h, const bf16* d, const bf16* w, bf16* out, int64_t ldOut, int n,
                                          float eps) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  bf16* hr = h + row * n;
  float ss = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float v = bf(hr[i]);
    if (d != nullptr) {
      v = round_bf(v + bf(d[row * n + i]));
      hr[i] = rn(v);
    }
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[row * ldOut + i] = rn(bf(w[i]) * round_bf(bf(hr[i]) * inv));
}

// ---------------------------------------------------------------------------------------------------------
// One warp per (token, head); lane l rotates the pairs (j, j + hd/2) and (j+1, j+1 + hd/2) for
// j = 2l, 2l + 64, ... (hd / 2 even). Heads 0..nq-1 are q heads, the k heads follow them.
constexpr int kRopeWarps = 4;
constexpr int kRopeIters = 2;  // head_dim up to 256

__global__ void __launch_bounds__(kRopeWarps * 32)
    qk_norm_rope_kernel(bf16* qkv, int64_t items, int ld, int nq, int nheads, int hd, const int32_t* pos,
                        const bf16* cosT, const bf16* sinT, const bf16* qNorm, const bf16* kNorm, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * kRopeWarps + (threadIdx.x >> 5);
  if (item >= items) return;
  const int64_t t = item / nheads;
  const int head = static_cast<int>(item - t * nheads);
  const int half = hd / 2;
  bf16* x = qkv + t * ld + static_cast<int64_t>(head) * hd;
  float2 a[kRopeIters], b[kRopeIters];
#pragma unroll
  for (int it = 0; it < kRopeIters; ++it) {
    const int j = 2 * (lane + 32 * it);
    a[it] = b[it] = make_float2(0.f, 0.f);
    if (j < half) {
      a[it] = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(x + j));
      b[it] = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(x + half + j));
    }
  }
  if (qNorm != nullptr) {
    float ss = 0.f;
#pragma unroll
    for (int it = 0; it < kRopeIters; ++it) {
      ss += a[it].x * a[it].x + a[it].y * a[it].y + b[it].x * b[it].x + b[it].y * b[it].y;
    }
    ss = warp_sum(ss);
    const float inv = 1.0f / sqrtf(ss / static_cast<float>(hd) + eps);
    const bf16* w = head < nq ? qNorm : kNorm;
#pragma unroll
    for (int it = 0; it < kRopeIters; ++it) {
      const int j = 2 * (lane + 32 * it);
      if (j >= half) continue;
      a[it].x = round_bf(bf(w[j]) * round_bf(a[it].x * inv));
      a[it].y = round_bf(bf(w[j + 1]) * round_bf(a[it].y * inv));
      b[it].x = round_bf(bf(w[half + j]) * round_bf(b[it].x * inv));
      b[it].y = round_bf(bf(w[half + j + 1]) * round_bf(b[it].y * inv));
    }
  }
  const int64_t p = pos[t];
#pragma unroll
  for (int it = 0; it < kRopeIters; ++it) {
    const int j = 2 * (lane + 32 * it);
    if (j >= half) continue;
    const float2 c = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(cosT + p * half + j));
    const float2 s = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(sinT + p * half + j));
    *reinterpret_cast<__nv_bfloat162*>(x + j) =
        __floats2bfloat162_rn(round_bf(a[it].x * c.x) + round_bf(-b[it].x * s.x),
                              round_bf(a[it].y * c.y) + round_bf(-b[it].y * s.y));
    *reinterpret_cast<__nv_bfloat162*>(x + half + j) =
        __floats2bfloat162_rn(round_bf(b[it].x * c.x) + round_bf(a[it].x * s.x),
                              round_bf(b[it].y * c.y) + round_bf(a[it].y * s.y));
  }
}

// ---------------------------------------------------------------------------------------------------------
// One block per token; threads step through the row in 8-element chunks (I % 8 == 0) or single elements.
__global__ void silu_mul_kernel(const bf16* gu, bf16* m, int I) {
  const int64_t t = blockIdx.x;
  const bf16* g = gu + t * 2 * I;
  const bf16* u = g + I;
  bf16* o = m + t * I;
  if (I % 8 == 0) {
    for (int i = threadIdx.x * 8; i < I; i += blockDim.x * 8) {
      float gv[8], uv[8];
      load8(g + i, gv);
      load8(u + i, uv);
#pragma unroll
      for (int k = 0; k < 8; ++k) gv[k] = round_bf(gv[k] / (1.0f + expf(-gv[k]))) * uv[k];
      store8(o + i, gv);
    }
    return;
  }
  for (int i = threadIdx.x; i < I; i += blockDim.x) {
    const float gv = bf(g[i]);
    o[i] = rn(round_bf(gv / (1.0f + expf(-gv))) * bf(u[i]));
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

// Folds one value into a running (max, sum of exp(x − max)).
__device__ __forceinline__ void lse_push(float x, float& m, float& sum) {
  if (x > m) {
    sum = sum * expf(m - x) + 1.0f;  // m = -inf on the first value: sum is 0 and stays 0 before the + 1
    m = x;
  } else {
    sum += expf(x - m);
  }
}

// One pass over each logits row: every thread keeps a running max and sum over its 8-wide chunks, then the
// block merges them, so the row (vocab × 2 bytes, far more than L2 holds across the chunk) is read once.
__global__ void logit_reduce_kernel(const bf16* logits, int V, const int32_t* targets, const int64_t* lpAt,
                                    const int32_t* eosSeq, int eos, float* logprobs, double* eosProb) {
  __shared__ float scratch[32];
  const bf16* row = logits + static_cast<int64_t>(blockIdx.x) * V;
  float m = -INFINITY, sum = 0.f;
  if (V % 8 == 0) {
    for (int i = threadIdx.x * 8; i < V; i += blockDim.x * 8) {
      float x[8];
      load8(row + i, x);
      float cm = x[0];
#pragma unroll
      for (int k = 1; k < 8; ++k) cm = fmaxf(cm, x[k]);
      if (cm > m) {
        sum *= expf(m - cm);
        m = cm;
      }
#pragma unroll
      for (int k = 0; k < 8; ++k) sum += expf(x[k] - m);
    }
  } else {
    for (int i = threadIdx.x; i < V; i += blockDim.x) lse_push(bf(row[i]), m, sum);
  }
  const float mx = block_max(m, scratch);
  sum = block_sum(sum > 0.f ? sum * expf(m - mx) : 0.f, scratch);
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

void add_rmsnorm(bf16* h, const bf16* d, const bf16* w, bf16* out, int64_t ldOut, int64_t rows, int n, float eps,
                 cudaStream_t s) {
  if (rows == 0) return;
  const int chunks = n / 8;
  const bool vec = n % 8 == 0 && ldOut % 8 == 0 && chunks <= 4 * 1024;
  if (vec) {
    const int perThread = (chunks + 1023) / 1024;  // 1 up to n = 8192, then 2, 4
    const int threads = ((chunks + perThread - 1) / perThread + 31) / 32 * 32;
    const unsigned grid = static_cast<unsigned>(rows);
    switch (perThread) {
      case 1: add_rmsnorm_kernel<1><<<grid, threads, 0, s>>>(h, d, w, out, ldOut, n, eps); break;
      case 2: add_rmsnorm_kernel<2><<<grid, threads, 0, s>>>(h, d, w, out, ldOut, n, eps); break;
      default: add_rmsnorm_kernel<4><<<grid, threads, 0, s>>>(h, d, w, out, ldOut, n, eps); break;
    }
  } else {
    const int threads = n >= 1024 ? 512 : (n >= 256 ? 256 : 64);
    add_rmsnorm_scalar_kernel<<<static_cast<unsigned>(rows), threads, 0, s>>>(h, d, w, out, ldOut, n, eps);
  }
  CUDA_CHECK_LAUNCH();
}

void qk_norm_rope(bf16* qkv, int64_t T, int ld, int nq, int nk, int hd, const int32_t* pos, const bf16* cosT,
                  const bf16* sinT, const bf16* qNorm, const bf16* kNorm, float eps, cudaStream_t s) {
  if (T == 0) return;
  if (hd % 4 != 0 || hd > 64 * kRopeIters * 2) {
    throw EngineException("unsupported_config",
                          "head_dim " + std::to_string(hd) + " is not supported by the CUDA RoPE kernel (a multiple "
                                                             "of 4 up to 256)");
  }
  const int64_t items = T * (nq + nk);
  const unsigned grid = static_cast<unsigned>((items + kRopeWarps - 1) / kRopeWarps);
  qk_norm_rope_kernel<<<grid, kRopeWarps * 32, 0, s>>>(qkv, items, ld, nq, nq + nk, hd, pos, cosT, sinT, qNorm, kNorm,
                                                       eps);
  CUDA_CHECK_LAUNCH();
}

void silu_mul(const bf16* gu, bf16* m, int64_t T, int I, cudaStream_t s) {
  if (T == 0) return;
  silu_mul_kernel<<<static_cast<unsigned>(T), 256, 0, s>>>(gu, m, I);
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
