// Blocked fp32 GEMM for the CPU backend. Compiled with FMA contraction allowed: accumulation order and
// fusing only move results at the fp32 level, far below the bf16 rounding of the output.
#include "gemm.h"

#include <algorithm>
#include <cstring>

#include "../common/bf16.h"
#include "simd.h"

namespace grail {
namespace {

constexpr int kMr = 3;   // rows of X per micro tile
constexpr int kNr = 4;   // rows of W per micro tile
constexpr int kMb = 48;  // rows of X per task
constexpr int kNb = 64;  // rows of W per task

inline void micro_tile(const float* const* x, const float* const* w, int K, float out[kMr][kNr]) {
  v8f acc[kMr][kNr];
  for (int i = 0; i < kMr; ++i) {
    for (int j = 0; j < kNr; ++j) acc[i][j] = v8f{};
  }
  int k = 0;
  for (; k + 8 <= K; k += 8) {
    v8f xv[kMr];
    for (int i = 0; i < kMr; ++i) xv[i] = load8(x[i] + k);
    for (int j = 0; j < kNr; ++j) {
      const v8f wv = load8(w[j] + k);
      for (int i = 0; i < kMr; ++i) acc[i][j] += xv[i] * wv;
    }
  }
  for (int i = 0; i < kMr; ++i) {
    for (int j = 0; j < kNr; ++j) {
      float s = 0.f;
      for (int l = 0; l < 8; ++l) s += acc[i][j][l];
      for (int kk = k; kk < K; ++kk) s += x[i][kk] * w[j][kk];
      out[i][j] = s;
    }
  }
}

template <bool kRound>
void gemm_impl(const float* X, int64_t M, int K, const float* W, int N, const float* bias, float* Y, int64_t ldy,
               ThreadPool& pool) {
  const int64_t mt = (M + kMb - 1) / kMb;
  const int64_t nt = (N + kNb - 1) / kNb;
  pool.parallel_for(mt * nt, [&](int64_t task) {
    const int64_t m0 = (task / nt) * kMb;
    const int64_t m1 = std::min<int64_t>(M, m0 + kMb);
    const int n0 = static_cast<int>((task % nt) * kNb);
    const int n1 = std::min(N, n0 + kNb);
    const float* x[kMr];
    const float* w[kNr];
    float out[kMr][kNr];
    for (int64_t i0 = m0; i0 < m1; i0 += kMr) {
      // Rows past the end repeat the last row; their results are not stored.
      for (int i = 0; i < kMr; ++i) x[i] = X + std::min<int64_t>(i0 + i, m1 - 1) * K;
      for (int j0 = n0; j0 < n1; j0 += kNr) {
        for (int j = 0; j < kNr; ++j) w[j] = W + static_cast<int64_t>(std::min(j0 + j, n1 - 1)) * K;
        micro_tile(x, w, K, out);
        for (int i = 0; i < kMr && i0 + i < m1; ++i) {
          float* y = Y + (i0 + i) * ldy;
          for (int j = 0; j < kNr && j0 + j < n1; ++j) {
            float v = out[i][j];
            if (bias != nullptr) v += bias[j0 + j];
            y[j0 + j] = kRound ? round_bf16(v) : v;
          }
        }
      }
    }
  });
}

}  // namespace

void gemm_bf16_nt(const float* X, int64_t M, int K, const float* W, int N, const float* bias, float* Y, int64_t ldy,
                  ThreadPool& pool) {
  gemm_impl<true>(X, M, K, W, N, bias, Y, ldy, pool);
}

void gemm_f32_nt(const float* X, int64_t M, int K, const float* W, int N, float* Y, int64_t ldy, ThreadPool& pool) {
  gemm_impl<false>(X, M, K, W, N, nullptr, Y, ldy, pool);
}

}  // namespace grail
