// Causal GQA attention over variable-length packed sequences, a shared prompt computed once per group.
//
// The queries come in segments (AttnSegment, common/forward_plan.h): a prompt computed once, or a completion
// whose first positions are that prompt's rows. Key position j of a segment is packed row prefixStart + j below
// prefixLen and its own row qStart + (j − prefixLen) from there on, so a completion attends to exactly the
// keys, in exactly the 128-key blocks, that it would see as one unshared sequence: results are the same
// bits either way.
//
// Two kernels compute the same thing with the same rounding points as the reference's fused SDPA kernel and
// the CPU backend: fp32 scores q·k·scale, softmax online over blocks of 128 keys (the running max is updated
// once per block, probabilities are taken against it, earlier sums rescaled by exp(m_old − m_new)), the fp32
// probabilities summed unrounded for the denominator and rounded to bf16 for the product with V, fp32
// accumulation, the output divided by the denominator and rounded to bf16 once. They differ in the order of
// fp32 additions inside the two dot products and in how the exponential is evaluated (last-bit fp32
// differences, far below the bf16 rounding of the probabilities).
//
// - flash_attention_kernel (head_dim 32/64/96/128): tensor cores (mma.sync m16n8k16, bf16 → fp32) in the
//   FlashAttention-2 layout: 8 warps of 16 queries each, K and V tiles of 128 keys in shared memory loaded
//   with cp.async so that V's load overlaps Q·Kᵀ and the next K's load overlaps P·V. Exponentials are
//   exp2 with the scale folded in (2^(s·scale·log2e − m·scale·log2e)), as FlashAttention and the
//   reference's memory-efficient SDPA kernel compute them.
// - simt_attention_kernel (any supported head_dim, 256 included): CUDA cores, the fallback for head dims
//   whose accumulators do not fit the tensor-core kernel's registers.
//
// The file stays whole (over 400 lines): the two kernels are one operation that must round identically,
// and they share the softmax block size and the segment layout with the dispatcher that picks one.
#include <cfloat>
#include <cstdint>

#include "cuda_check.h"
#include "device_math.cuh"
#include "kernels.cuh"

namespace grail {
namespace cuda {
namespace {

constexpr int kSoftmaxBlock = 128;  // keys per online-softmax block: part of the numerics, not a tuning knob


// ---------------------------------------------------------------------------------------------------------
// Tensor-core kernel.

// 128 queries a block: each K/V tile read from L2 serves 128 query rows (64 would double that traffic, the
// limit near 300 TFLOP/s). 218 registers a thread allow one such block per SM.
constexpr int kFaWarps = 8;
constexpr int kFaQueries = kFaWarps * 16;  // one m16 row block per warp
constexpr int kFaKeys = kSoftmaxBlock;     // one K/V tile is one softmax block

// Shared-memory rows are padded by 16 bytes: the 8 row addresses of an ldmatrix then fall on 8 different
// 4-bank groups (conflict-free) and every row start stays 16-byte aligned for cp.async.
template <int HD>
struct FaLayout {
  static constexpr int kStride = HD + 8;  // bf16 elements a shared-memory row
  static constexpr size_t kSmemBytes = sizeof(bf16) * static_cast<size_t>(kFaQueries + 2 * kFaKeys) * kStride;
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global → shared, bypassing L1; when !valid the destination is zero-filled (rows past the end
// of the sequence: a zero V row times a zero probability stays zero, garbage could be NaN).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c += a · b for one 16×8 fp32 tile (a: 16×16 bf16 row-major fragment, b: 16×8 bf16 column fragment).
__device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Two fp32 values rounded to bf16 and packed, the lower column in the low half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// The packed row of key position j of a segment.
__device__ __forceinline__ int kv_row(const AttnSegment& sg, int j) {
  return j < sg.prefixLen ? sg.prefixStart + j : sg.qStart + (j - sg.prefixLen);
}

// Copies the head slice (HD bf16 at column `col`) of `rows` rows into shared memory: the segment's queries
// from index `first` (keys = false) or its keys from position `first` (keys = true). Rows past the segment
// are zero-filled.
template <int HD>
__device__ __forceinline__ void fa_load_rows(bf16* dst, const bf16* qkv, int64_t ld, int64_t col,
                                             const AttnSegment& sg, bool keys, int first, int rows) {
  constexpr int kChunks = HD / 8;  // 16-byte chunks a row
  const int end = keys ? sg.prefixLen + sg.qLen : sg.qLen;
  for (int c = threadIdx.x; c < rows * kChunks; c += kFaWarps * 32) {
    const int r = c / kChunks, cc = c % kChunks;
    const bool valid = first + r < end;
    const int row = !valid ? 0 : (keys ? kv_row(sg, first + r) : sg.qStart + first + r);
    cp_async16(dst + r * FaLayout<HD>::kStride + cc * 8, qkv + row * ld + col + cc * 8, valid);
  }
}

// Fragment layouts (PTX ISA, mma.m16n8k16): lane = 4·g + t. A holds rows g and g+8, columns 2t, 2t+1 and
// 2t+8, 2t+9; B holds rows (k) 2t, 2t+1 and 2t+8, 2t+9 of column (n) g; C holds rows g (c0, c1) and g+8
// (c2, c3), columns 2t, 2t+1. So a warp's scores S = Q·Kᵀ for keys n..n+15 are, read as an A fragment,
// exactly the probabilities P needed for P·V over those keys: no shuffle between the two products.
template <int HD>
__global__ void __launch_bounds__(kFaWarps * 32, 1)
    flash_attention_kernel(const bf16* qkv, int ldQkv, const AttnSegment* segs, int nq, int group,
                           float scaleLog2, bf16* out, int ldOut) {
  constexpr int S = FaLayout<HD>::kStride;
  constexpr int kDimTiles = HD / 8;     // n8 tiles of the output
  constexpr int kKeyTiles = kFaKeys / 8;  // n8 tiles of the scores
  extern __shared__ __align__(16) unsigned char fa_smem[];
  bf16* qS = reinterpret_cast<bf16*>(fa_smem);  // [kFaQueries][S]
  bf16* kS = qS + kFaQueries * S;                // [kFaKeys][S]
  bf16* vS = kS + kFaKeys * S;                   // [kFaKeys][S]

  const AttnSegment sg = segs[blockIdx.z];
  const int head = blockIdx.y;
  // The x index runs backwards: tiles near the end of the longest segments, the most work, start first.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kFaQueries;  // query index inside the segment
  if (q0 >= sg.qLen) return;
  const int len = sg.prefixLen + sg.qLen;  // key positions 0..len-1
  const int p0 = sg.prefixLen + q0;        // position of the block's first query

  const int64_t ld = ldQkv;
  const int kvHead = head / group;
  const int64_t qCol = static_cast<int64_t>(head) * HD;
  const int64_t kCol = static_cast<int64_t>(nq) * HD + static_cast<int64_t>(kvHead) * HD;
  const int64_t vCol = kCol + static_cast<int64_t>(nq / group) * HD;

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int mi = lane >> 3, mr = lane & 7;  // which 8×8 matrix of an ldmatrix.x4 this lane addresses, and its row
  const int rowLo = p0 + warp * 16 + g;      // position of the query of c0/c1; c2/c3 hold rowLo + 8
  // Keys past this one are masked for every query of the warp: their 16-key chunks are skipped.
  const int lastKey = min(p0 + warp * 16 + 15, len - 1);
  const int firstQ = p0 + warp * 16;

  fa_load_rows<HD>(qS, qkv, ld, qCol, sg, false, q0, kFaQueries);
  fa_load_rows<HD>(kS, qkv, ld, kCol, sg, true, 0, kFaKeys);
  cp_async_commit();

  // Running max of the raw scores q·k (unscaled) and running denominator, for rows g and g+8.
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  float acc[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;

  const int lastQ = min(len, p0 + kFaQueries) - 1;
  const int nTiles = lastQ / kFaKeys + 1;
  for (int tile = 0; tile < nTiles; ++tile) {
    const int k0 = tile * kFaKeys;
    __syncthreads();  // every warp is done with the previous tile's V
    fa_load_rows<HD>(vS, qkv, ld, vCol, sg, true, k0, kFaKeys);
    cp_async_commit();
    cp_async_wait<1>();  // this tile's K (and, first time round, Q) has landed
    __syncthreads();

    // S = Q·Kᵀ for the warp's 16 queries and the tile's 128 keys.
    float s[kKeyTiles][4];
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int kc = 0; kc < HD / 16; ++kc) {
      uint32_t a[4];
      ldmatrix_x4(a, qS + (warp * 16 + (mi & 1) * 8 + mr) * S + kc * 16 + (mi >> 1) * 8);
#pragma unroll
      for (int n2 = 0; n2 < kKeyTiles / 2; ++n2) {
        if (k0 + n2 * 16 > lastKey) continue;  // warp-uniform
        uint32_t b[4];
        ldmatrix_x4(b, kS + (n2 * 16 + (mi >> 1) * 8 + mr) * S + kc * 16 + (mi & 1) * 8);
        mma_bf16(s[2 * n2], a, b[0], b[1]);
        mma_bf16(s[2 * n2 + 1], a, b[2], b[3]);
      }
    }

    // Online softmax over this 128-key block; a row's values live in the 4 lanes of its quad. Only tiles
    // on the diagonal or past the end of the sequence need the mask.
    if (k0 + kFaKeys - 1 > firstQ || k0 + kFaKeys > len) {
#pragma unroll
      for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = k0 + n * 8 + 2 * t + (e & 1);
          const int q = rowLo + (e >> 1) * 8;
          if (key > q || key >= len) s[n][e] = -INFINITY;
        }
      }
    }
    float tileMax[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
      tileMax[0] = fmaxf(tileMax[0], fmaxf(s[n][0], s[n][1]));
      tileMax[1] = fmaxf(tileMax[1], fmaxf(s[n][2], s[n][3]));
    }
    float alpha[2], mScaled[2], psum[2] = {0.f, 0.f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tileMax[r] = fmaxf(tileMax[r], __shfl_xor_sync(0xffffffffu, tileMax[r], 1));
      tileMax[r] = fmaxf(tileMax[r], __shfl_xor_sync(0xffffffffu, tileMax[r], 2));
      const float mNew = fmaxf(m[r], tileMax[r]);  // finite: key k0 is visible to every row
      alpha[r] = fast_exp2((m[r] - mNew) * scaleLog2);  // 0 on the first tile (m = -inf)
      m[r] = mNew;
      mScaled[r] = mNew * scaleLog2;
    }
#pragma unroll
    for (int n = 0; n < kKeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = fast_exp2(fmaf(s[n][e], scaleLog2, -mScaled[e >> 1]));  // masked: 2^-inf = 0
        psum[e >> 1] += p;
        s[n][e] = p;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      psum[r] += __shfl_xor_sync(0xffffffffu, psum[r], 1);
      psum[r] += __shfl_xor_sync(0xffffffffu, psum[r], 2);
      l[r] = l[r] * alpha[r] + psum[r];
    }
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      acc[n][0] *= alpha[0];
      acc[n][1] *= alpha[0];
      acc[n][2] *= alpha[1];
      acc[n][3] *= alpha[1];
    }

    cp_async_wait<0>();  // this tile's V has landed
    __syncthreads();     // ...for every warp, and every warp is done reading this tile's K
    if (tile + 1 < nTiles) fa_load_rows<HD>(kS, qkv, ld, kCol, sg, true, k0 + kFaKeys, kFaKeys);
    cp_async_commit();  // possibly empty: keeps the wait counts above uniform

    // O += bf16(P)·V
#pragma unroll
    for (int kc = 0; kc < kFaKeys / 16; ++kc) {
      if (k0 + kc * 16 > lastKey) continue;  // warp-uniform
      const uint32_t a[4] = {pack_bf16(s[2 * kc][0], s[2 * kc][1]), pack_bf16(s[2 * kc][2], s[2 * kc][3]),
                             pack_bf16(s[2 * kc + 1][0], s[2 * kc + 1][1]),
                             pack_bf16(s[2 * kc + 1][2], s[2 * kc + 1][3])};
#pragma unroll
      for (int d2 = 0; d2 < kDimTiles / 2; ++d2) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, vS + (kc * 16 + (mi & 1) * 8 + mr) * S + d2 * 16 + (mi >> 1) * 8);
        mma_bf16(acc[2 * d2], a, b[0], b[1]);
        mma_bf16(acc[2 * d2 + 1], a, b[2], b[3]);
      }
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int qi = rowLo + r * 8 - sg.prefixLen;
    if (qi >= sg.qLen) continue;
    uint32_t* o = reinterpret_cast<uint32_t*>(out + static_cast<int64_t>(sg.qStart + qi) * ldOut +
                                              static_cast<int64_t>(head) * HD + 2 * t);
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) o[n * 4] = pack_bf16(acc[n][2 * r] / l[r], acc[n][2 * r + 1] / l[r]);
  }
}

template <int HD>
void launch_flash(const bf16* qkv, int ldQkv, const AttnSegment* segs, int nseg, int maxQLen, int nq, int nk,
                  float scale, bf16* out, int ldOut, cudaStream_t s) {
  constexpr size_t smem = FaLayout<HD>::kSmemBytes;
  if (smem > 48 * 1024) {
    CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
  }
  const dim3 grid((maxQLen + kFaQueries - 1) / kFaQueries, nq, nseg);
  const float scaleLog2 = scale * 1.4426950408889634f;  // scale · log2(e)
  flash_attention_kernel<HD><<<grid, kFaWarps * 32, smem, s>>>(qkv, ldQkv, segs, nq, nq / nk, scaleLog2, out,
                                                               ldOut);
  CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------------------------------------
// CUDA-core kernel: a block takes kQTile consecutive queries of one head of one sequence; its warps own
// kQPerWarp queries each. K/V tiles of one softmax block are staged in shared memory (K rows padded by one
// bf16 pair so that lanes reading different keys hit different banks). Lane l scores keys l, l+32, l+64,
// l+96 of the tile and owns output dims l, l+32, ...
constexpr int kWarps = 4;
constexpr int kQPerWarp = 8;
constexpr int kQTile = kWarps * kQPerWarp;
constexpr int kKTile = kSoftmaxBlock;
constexpr int kKPerLane = kKTile / 32;

template <int HD>
__global__ void __launch_bounds__(kWarps * 32)
    simt_attention_kernel(const bf16* qkv, int ldQkv, const AttnSegment* segs, int nq, int group, float scale,
                          bf16* out, int ldOut) {
  constexpr int kAcc = HD / 32;
  constexpr int kStride = HD + 2;  // padded K row, in bf16
  extern __shared__ unsigned char smem_raw[];
  float* qS = reinterpret_cast<float*>(smem_raw);        // [kQTile][HD]
  bf16* kS = reinterpret_cast<bf16*>(qS + kQTile * HD);  // [kKTile][kStride]
  bf16* vS = kS + kKTile * kStride;                      // [kKTile][HD]

  const AttnSegment sg = segs[blockIdx.z];
  const int head = blockIdx.y;
  const int qi0 = blockIdx.x * kQTile;  // query index inside the segment
  if (qi0 >= sg.qLen) return;
  const int len = sg.prefixLen + sg.qLen;
  const int q0 = sg.prefixLen + qi0;  // position of the block's first query
  const int kvHead = head / group;
  const int qd = nq * HD;
  const int kvd = (nq / group) * HD;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  for (int e = threadIdx.x; e < kQTile * HD; e += blockDim.x) {
    const int qi = e / HD, d = e % HD;
    const int q = q0 + qi;
    qS[e] = q < len ? bf(qkv[static_cast<int64_t>(sg.qStart + qi0 + qi) * ldQkv + static_cast<int64_t>(head) * HD + d])
                    : 0.f;
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
        const bf16* row = qkv + static_cast<int64_t>(kv_row(sg, key)) * ldQkv;
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
    bf16* o = out + static_cast<int64_t>(sg.qStart + (q - sg.prefixLen)) * ldOut + static_cast<int64_t>(head) * HD;
#pragma unroll
    for (int a = 0; a < kAcc; ++a) o[lane + 32 * a] = __float2bfloat16_rn(acc[r][a] / l[r]);
  }
}

template <int HD>
void launch_simt(const bf16* qkv, int ldQkv, const AttnSegment* segs, int nseg, int maxQLen, int nq, int nk,
                 float scale, bf16* out, int ldOut, cudaStream_t s) {
  const size_t smem = sizeof(float) * kQTile * HD + sizeof(bf16) * kKTile * (HD + 2) + sizeof(bf16) * kKTile * HD;
  if (smem > 48 * 1024) {
    CUDA_CHECK(cudaFuncSetAttribute(simt_attention_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(smem)));
  }
  const dim3 grid((maxQLen + kQTile - 1) / kQTile, nq, nseg);
  simt_attention_kernel<HD><<<grid, kWarps * 32, smem, s>>>(qkv, ldQkv, segs, nq, nq / nk, scale, out, ldOut);
  CUDA_CHECK_LAUNCH();
}

// The tensor-core kernel needs sm_80 (bf16 mma.sync, cp.async); older devices take the CUDA-core one.
bool device_has_bf16_mma() {
  static int major = -1;
  if (major < 0) {
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  }
  return major >= 8;
}

}  // namespace

bool attention_supports(int hd) { return hd == 32 || hd == 64 || hd == 96 || hd == 128 || hd == 256; }

void attention(const bf16* qkv, int ldQkv, const AttnSegment* segs, int nseg, int maxQLen, int nq, int nk, int hd,
               float scale, bf16* out, int ldOut, cudaStream_t s, AttentionKernel kernel) {
  if (nseg == 0 || maxQLen == 0) return;
  const bool tensorCores = kernel == AttentionKernel::TensorCore ||
                           (kernel == AttentionKernel::Auto && hd <= 128 && device_has_bf16_mma());
  if (tensorCores) {
    switch (hd) {
      case 32: return launch_flash<32>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
      case 64: return launch_flash<64>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
      case 96: return launch_flash<96>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
      case 128: return launch_flash<128>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
      default:
        throw EngineException("unsupported_config", "head_dim " + std::to_string(hd) +
                                                        " is not supported by the tensor-core attention kernel "
                                                        "(32, 64, 96, 128)");
    }
  }
  switch (hd) {
    case 32: return launch_simt<32>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
    case 64: return launch_simt<64>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
    case 96: return launch_simt<96>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
    case 128: return launch_simt<128>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
    case 256: return launch_simt<256>(qkv, ldQkv, segs, nseg, maxQLen, nq, nk, scale, out, ldOut, s);
    default:
      throw EngineException("unsupported_config", "head_dim " + std::to_string(hd) +
                                                      " is not supported by the CUDA attention kernel (32, 64, 96, "
                                                      "128, 256)");
  }
}

}  // namespace cuda
}  // namespace grail
