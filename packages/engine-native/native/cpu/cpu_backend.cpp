// The CPU reference backend: the forward pass of spec/proof-engine.md with the reference's bf16 rounding
// points, on fp32 storage that holds bf16-exact values. It is the oracle for the CUDA kernels and the
// engine of machines without a GPU.
#include "cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../common/bf16.h"
#include "../common/logit_rows.h"
#include "../common/rope.h"
#include "../common/sketch.h"
#include "../common/weights.h"
#include "gemm.h"
#include "simd.h"
#include "thread_pool.h"

namespace grail {
namespace {

constexpr int64_t kAttentionKeyBlock = 128;  // keep equal to the CUDA kernel's kKTile

struct CpuLayer {
  std::vector<float> inputNorm, wqkv, bqkv, wo, qNorm, kNorm, postNorm, wgateUp, wdown;
};

// rmsnorm(h, w) = bf16(w · bf16(h · rsqrt(mean(h²) + eps))), normalisation in fp32.
void rmsnorm_row(const float* in, const float* w, int n, float eps, float* out) {
  double ss = 0.0;
  for (int i = 0; i < n; ++i) ss += static_cast<double>(in[i]) * in[i];
  const float var = static_cast<float>(ss) / static_cast<float>(n);
  const float inv = 1.0f / std::sqrt(var + eps);
  for (int i = 0; i < n; ++i) out[i] = round_bf16(w[i] * round_bf16(in[i] * inv));
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(const ModelConfig& cfg, int threads) : cfg_(cfg), pool_(threads), rope_(cfg) {}

  const char* name() const override { return "cpu"; }

  BackendStats stats() const override { return stats_; }

  void loadWeights(const WeightSources& src) override {
    const int H = cfg_.hidden, I = cfg_.intermediate, V = cfg_.vocab;
    const int64_t qd = cfg_.qDim(), kvd = cfg_.kvDim();
    layers_.resize(cfg_.layers);
    bool grew = false;
    uint64_t bytes = 0;
    auto load = [&](std::vector<float>& dst, const TensorSource& t, size_t n, size_t at = 0, size_t total = 0) {
      if (total == 0) total = n;
      if (at == 0) grew |= ensure_size(dst, total);
      read_tensor_as_bf16_floats(t, dst.data() + at);
      bytes += n * 4;
    };
    load(embed_, src.embed, static_cast<size_t>(V) * H);
    load(finalNorm_, src.finalNorm, H);
    tied_ = src.lmHead.path == src.embed.path && src.lmHead.offset == src.embed.offset;
    if (!tied_) load(lmHead_, src.lmHead, static_cast<size_t>(V) * H);
    for (int l = 0; l < cfg_.layers; ++l) {
      const LayerSources& s = src.layers[l];
      CpuLayer& L = layers_[l];
      load(L.inputNorm, s.inputNorm, H);
      load(L.postNorm, s.postNorm, H);
      // q, k, v share one weight matrix so one GEMM produces the packed [q | k | v] row.
      const size_t qkv = static_cast<size_t>(qd + 2 * kvd) * H;
      load(L.wqkv, s.q, qd * H, 0, qkv);
      load(L.wqkv, s.k, kvd * H, qd * H, qkv);
      load(L.wqkv, s.v, kvd * H, (qd + kvd) * H, qkv);
      if (cfg_.qkvBias) {
        const size_t nb = qd + 2 * kvd;
        load(L.bqkv, s.qBias, qd, 0, nb);
        load(L.bqkv, s.kBias, kvd, qd, nb);
        load(L.bqkv, s.vBias, kvd, qd + kvd, nb);
      }
      if (cfg_.qkNorm) {
        load(L.qNorm, s.qNorm, cfg_.headDim);
        load(L.kNorm, s.kNorm, cfg_.headDim);
      }
      load(L.wo, s.o, static_cast<size_t>(H) * qd);
      const size_t gu = static_cast<size_t>(2) * I * H;
      load(L.wgateUp, s.gate, static_cast<size_t>(I) * H, 0, gu);
      load(L.wgateUp, s.up, static_cast<size_t>(I) * H, static_cast<size_t>(I) * H, gu);
      load(L.wdown, s.down, static_cast<size_t>(H) * I);
    }
    if (grew) ++stats_.weightAllocations;
    stats_.weightBytes = bytes;
  }

  void prove(const BatchView& batch, const int32_t rvec[16], const ProveOptions& /*options*/,
             ProveOutput& out) override {
    forward(batch);
    const int H = cfg_.hidden;
    const int64_t T = batch.totalTokens();
    out.sVals.resize(T);
    pool_.parallel_for((T + 63) / 64, [&](int64_t b) {
      const int64_t end = std::min(T, (b + 1) * 64);
      for (int64_t t = b * 64; t < end; ++t) out.sVals[t] = sketch_row(&hl_[t * H], H, rvec);
    });
    int64_t lpCount = 0;
    const std::vector<LogitRow> rows = plan_logit_rows(batch, &lpCount);
    out.logprobs.assign(lpCount, -std::numeric_limits<float>::infinity());
    out.eosProb.assign(batch.size(), std::numeric_limits<double>::quiet_NaN());
    forEachLogitsChunk(rows, [&](size_t r0, size_t r1, const float* logits) {
      pool_.parallel_for(static_cast<int64_t>(r1 - r0), [&](int64_t i) {
        const LogitRow& row = rows[r0 + i];
        const float* lg = logits + i * cfg_.vocab;
        const RowLse lse = row_lse(lg, cfg_.vocab);
        if (row.logprobAt >= 0) {
          out.logprobs[row.logprobAt] = static_cast<float>(static_cast<double>(lg[row.target] - lse.max) - lse.logSum);
        }
        if (row.eosSeq >= 0 && cfg_.eosTokenId >= 0) {
          out.eosProb[row.eosSeq] = std::exp(static_cast<double>(lg[cfg_.eosTokenId] - lse.max) - lse.logSum);
        }
      });
    });
  }

  void lastLogits(const BatchView& batch, std::vector<float>& out) override {
    forward(batch);
    std::vector<LogitRow> rows;
    for (size_t s = 0; s < batch.size(); ++s) rows.push_back({batch.offsets[s + 1] - 1, -1, -1, -1});
    out.resize(rows.size() * static_cast<size_t>(cfg_.vocab));
    forEachLogitsChunk(rows, [&](size_t r0, size_t r1, const float* logits) {
      std::copy(logits, logits + (r1 - r0) * cfg_.vocab, out.begin() + r0 * cfg_.vocab);
    });
  }

  void hiddenStates(const BatchView& batch, std::vector<float>& out) override {
    forward(batch);
    out.assign(hl_.begin(), hl_.begin() + batch.totalTokens() * cfg_.hidden);
  }

 private:
  // bf16 logits of the given rows, a bounded number of rows at a time.
  template <typename Fn>
  void forEachLogitsChunk(const std::vector<LogitRow>& rows, Fn fn) {
    const int H = cfg_.hidden, V = cfg_.vocab;
    const float* head = tied_ ? embed_.data() : lmHead_.data();
    const size_t chunk = std::max<size_t>(1, (size_t{32} << 20) / static_cast<size_t>(V));
    std::vector<float> gathered, logits;
    for (size_t r0 = 0; r0 < rows.size(); r0 += chunk) {
      const size_t r1 = std::min(rows.size(), r0 + chunk);
      gathered.resize((r1 - r0) * H);
      for (size_t r = r0; r < r1; ++r) {
        std::copy_n(&hl_[rows[r].position * H], H, &gathered[(r - r0) * H]);
      }
      logits.resize((r1 - r0) * static_cast<size_t>(V));
      gemm_bf16_nt(gathered.data(), static_cast<int64_t>(r1 - r0), H, head, V, nullptr, logits.data(), V, pool_);
      fn(r0, r1, logits.data());
    }
  }

  void forward(const BatchView& batch) {
    const int H = cfg_.hidden, I = cfg_.intermediate, hd = cfg_.headDim;
    const int qd = cfg_.qDim(), qkvd = cfg_.qkvDim();
    const int64_t T = batch.totalTokens();
    int64_t maxLen = 0;
    for (size_t s = 0; s < batch.size(); ++s) maxLen = std::max(maxLen, batch.offsets[s + 1] - batch.offsets[s]);
    rope_.ensure(maxLen);
    // position of every packed token inside its own sequence
    pos_.resize(T);
    for (size_t s = 0; s < batch.size(); ++s) {
      for (int64_t t = batch.offsets[s]; t < batch.offsets[s + 1]; ++t) pos_[t] = t - batch.offsets[s];
    }
    h_.resize(T * H);
    x_.resize(T * H);
    qkv_.resize(T * qkvd);
    attn_.resize(T * qd);
    tmp_.resize(T * H);
    gu_.resize(T * 2 * I);
    mlp_.resize(T * I);
    hl_.resize(T * H);

    for (int64_t t = 0; t < T; ++t) {
      const int32_t tok = batch.tokens[t];
      if (tok < 0 || tok >= cfg_.vocab) {
        throw EngineException("token_out_of_range", "token id " + std::to_string(tok) + " at packed position " +
                                                        std::to_string(t) + " is outside the vocabulary of " +
                                                        std::to_string(cfg_.vocab));
      }
      std::copy_n(&embed_[static_cast<size_t>(tok) * H], H, &h_[t * H]);
    }

    const float eps = cfg_.eps;
    for (int l = 0; l < cfg_.layers; ++l) {
      const CpuLayer& L = layers_[l];
      rowsParallel(T, [&](int64_t t) { rmsnorm_row(&h_[t * H], L.inputNorm.data(), H, eps, &x_[t * H]); });
      gemm_bf16_nt(x_.data(), T, H, L.wqkv.data(), qkvd, cfg_.qkvBias ? L.bqkv.data() : nullptr, qkv_.data(), qkvd,
                   pool_);
      rowsParallel(T, [&](int64_t t) { qkNormAndRope(&qkv_[t * qkvd], pos_[t], L); });
      attention(batch);
      gemm_bf16_nt(attn_.data(), T, qd, L.wo.data(), H, nullptr, tmp_.data(), H, pool_);
      rowsParallel(T, [&](int64_t t) {
        for (int i = 0; i < H; ++i) h_[t * H + i] = round_bf16(h_[t * H + i] + tmp_[t * H + i]);
        rmsnorm_row(&h_[t * H], L.postNorm.data(), H, eps, &x_[t * H]);
      });
      gemm_bf16_nt(x_.data(), T, H, L.wgateUp.data(), 2 * I, nullptr, gu_.data(), 2 * I, pool_);
      rowsParallel(T, [&](int64_t t) {
        const float* g = &gu_[t * 2 * I];
        const float* u = g + I;
        for (int i = 0; i < I; ++i) {
          const float s = round_bf16(g[i] / (1.0f + std::exp(-g[i])));
          mlp_[t * I + i] = round_bf16(s * u[i]);
        }
      });
      gemm_bf16_nt(mlp_.data(), T, I, L.wdown.data(), H, nullptr, tmp_.data(), H, pool_);
      rowsParallel(T, [&](int64_t t) {
        for (int i = 0; i < H; ++i) h_[t * H + i] = round_bf16(h_[t * H + i] + tmp_[t * H + i]);
      });
    }
    rowsParallel(T, [&](int64_t t) { rmsnorm_row(&h_[t * H], finalNorm_.data(), H, eps, &hl_[t * H]); });
    (void)hd;
  }

  template <typename Fn>
  void rowsParallel(int64_t T, Fn fn) {
    constexpr int64_t kRows = 16;
    pool_.parallel_for((T + kRows - 1) / kRows, [&](int64_t b) {
      const int64_t end = std::min(T, (b + 1) * kRows);
      for (int64_t t = b * kRows; t < end; ++t) fn(t);
    });
  }

  // Qwen3 q/k norm per head, then rotate-half RoPE: q' = bf16(bf16(q·cos) + bf16(rotate_half(q)·sin)).
  void qkNormAndRope(float* row, int64_t pos, const CpuLayer& L) const {
    const int hd = cfg_.headDim, half = hd / 2;
    const int nq = cfg_.heads, nk = cfg_.kvHeads;
    const float* c = rope_.cosRow(pos);
    const float* s = rope_.sinRow(pos);
    float buf[1024];
    for (int h = 0; h < nq + nk; ++h) {
      float* x = row + static_cast<int64_t>(h) * hd;  // k heads follow the q heads in the packed row
      if (cfg_.qkNorm) rmsnorm_row(x, h < nq ? L.qNorm.data() : L.kNorm.data(), hd, cfg_.eps, x);
      for (int i = 0; i < hd; ++i) buf[i] = x[i];
      for (int i = 0; i < half; ++i) {
        const float a = buf[i], b = buf[i + half];
        x[i] = round_bf16(round_bf16(a * c[i]) + round_bf16(-b * s[i]));
        x[i + half] = round_bf16(round_bf16(b * c[i]) + round_bf16(a * s[i]));
      }
    }
  }

  // Causal GQA attention per sequence and head: fp32 scores and softmax, online over blocks of
  // kAttentionKeyBlock keys as the reference's fused SDPA kernel runs it: each block's probabilities are
  // taken against the running max and rounded to bf16 for the product with V, earlier sums are rescaled
  // when the max grows, and the fp32 row sum divides once at the end; output rounded to bf16.
  // (Measured on the HF goldens: 128-key blocks match the reference best; 32 and 64 are further off,
  // and a single block over all keys lies in between.)
  void attention(const BatchView& batch) {
    const int hd = cfg_.headDim;
    const int nq = cfg_.heads, group = cfg_.heads / cfg_.kvHeads;
    const int qkvd = cfg_.qkvDim(), qd = cfg_.qDim(), kvd = cfg_.kvDim();
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const int64_t nseq = static_cast<int64_t>(batch.size());
    pool_.parallel_for(nseq * nq, [&](int64_t task) {
      const int64_t s = task / nq;
      const int h = static_cast<int>(task % nq);
      const int kvh = h / group;
      const int64_t start = batch.offsets[s], len = batch.offsets[s + 1] - start;
      std::vector<float> p(len), acc(hd);
      for (int64_t i = 0; i < len; ++i) {
        const float* q = &qkv_[(start + i) * qkvd + static_cast<int64_t>(h) * hd];
        for (int64_t j = 0; j <= i; ++j) {
          const float* k = &qkv_[(start + j) * qkvd + qd + static_cast<int64_t>(kvh) * hd];
          p[j] = dot_f32(q, k, hd) * scale;
        }
        float m = -std::numeric_limits<float>::infinity();
        float sum = 0.f;
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t j0 = 0; j0 <= i; j0 += kAttentionKeyBlock) {
          const int64_t j1 = std::min<int64_t>(i + 1, j0 + kAttentionKeyBlock);
          float mNew = m;
          for (int64_t j = j0; j < j1; ++j) mNew = std::max(mNew, p[j]);
          const float alpha = std::exp(m - mNew);
          sum *= alpha;
          for (int d = 0; d < hd; ++d) acc[d] *= alpha;
          for (int64_t j = j0; j < j1; ++j) {
            const float e = std::exp(p[j] - mNew);
            sum += e;
            const float pe = round_bf16(e);
            const float* v = &qkv_[(start + j) * qkvd + qd + kvd + static_cast<int64_t>(kvh) * hd];
            for (int d = 0; d < hd; ++d) acc[d] += pe * v[d];
          }
          m = mNew;
        }
        float* o = &attn_[(start + i) * qd + static_cast<int64_t>(h) * hd];
        for (int d = 0; d < hd; ++d) o[d] = round_bf16(acc[d] / sum);
      }
    });
  }

  ModelConfig cfg_;
  ThreadPool pool_;
  RopeTable rope_;
  BackendStats stats_;
  bool tied_ = false;
  std::vector<float> embed_, finalNorm_, lmHead_;
  std::vector<CpuLayer> layers_;
  std::vector<int64_t> pos_;
  std::vector<float> h_, x_, qkv_, attn_, tmp_, gu_, mlp_, hl_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const ModelConfig& cfg, int threads) {
  if (cfg.headDim > 1024 || cfg.headDim % 2 != 0) {
    throw EngineException("unsupported_config", "head_dim " + std::to_string(cfg.headDim) +
                                                    " is not supported (even values up to 1024)");
  }
  return std::make_unique<CpuBackend>(cfg, threads);
}

}  // namespace grail
