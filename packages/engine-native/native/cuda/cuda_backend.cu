// The CUDA backend: weights in bf16 on one device, all tokens of a batch packed (no padding), cuBLASLt
// GEMMs over the whole batch, own kernels for the rest; only sketches, logprobs and EOS probabilities
// (or requested logits) are copied back. Rollouts of a call that share their prompt (a GRPO group) share
// its computation: the prompt's rows are computed once and each completion attends to them
// (ForwardPlan). With options.profile a prove() also times its kernel families (profiler.h);
// lastProfile() reads the report.
// Buffers are sized by common/memory_plan.h, the sizes the memory report (proofMemoryNeed) adds up; the
// row layout with shared prompts is common/forward_plan.h.
// The file stays whole (over 400 lines): CudaBackend is one class whose state (device weights, the packed
// batch's buffers, stream, cuBLASLt handle) every step of prove() uses; the probe entry point beside it
// exists only for it.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../common/cuda_entry.h"
#include "../common/forward_plan.h"
#include "../common/logit_rows.h"
#include "../common/memory_plan.h"
#include "../common/rope.h"
#include "../common/weights.h"
#include "cuda_check.h"
#include "device_buffer.h"
#include "gemm.h"
#include "kernels.cuh"
#include "profiler.h"

namespace grail {
namespace cuda {
namespace {

struct Layer {
  DeviceBuffer<bf16> inputNorm, wqkv, bqkv, wo, qNorm, kNorm, postNorm, wgateUp, wdown;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const ModelConfig& cfg, int device)
      : cfg_(cfg), device_(device), rope_(cfg), layers_(static_cast<size_t>(cfg.layers)) {
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    gemm_ = std::make_unique<LtGemm>(stream_);
  }

  ~CudaBackend() override {
    cudaSetDevice(device_);
    gemm_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  const char* name() const override { return "cuda"; }
  BackendStats stats() const override { return stats_; }
  std::string profileJson() const override { return prof_.json(); }

  void loadWeights(const WeightSources& src) override {
    CUDA_CHECK(cudaSetDevice(device_));
    const size_t H = cfg_.hidden, I = cfg_.intermediate, V = cfg_.vocab;
    const size_t qd = cfg_.qDim(), kvd = cfg_.kvDim();
    bool grew = false;
    uint64_t bytes = 0;
    std::vector<uint16_t> host;
    // Reads one tensor and copies it to buf at element offset `at`; buf is sized to `total` first.
    auto upload = [&](DeviceBuffer<bf16>& buf, const TensorSource& t, size_t n, size_t at = 0, size_t total = 0) {
      if (total == 0) total = n;
      if (at == 0) grew |= buf.resize_exact(total);
      host.resize(n);
      read_tensor_bf16(t, host.data());
      CUDA_CHECK(cudaMemcpy(buf.get() + at, host.data(), n * sizeof(uint16_t), cudaMemcpyHostToDevice));
      bytes += n * 2;
    };
    upload(embed_, src.embed, V * H);
    upload(finalNorm_, src.finalNorm, H);
    tied_ = src.lmHead.path == src.embed.path && src.lmHead.offset == src.embed.offset;
    if (!tied_) upload(lmHead_, src.lmHead, V * H);
    for (int l = 0; l < cfg_.layers; ++l) {
      const LayerSources& s = src.layers[l];
      Layer& L = layers_[l];
      upload(L.inputNorm, s.inputNorm, H);
      upload(L.postNorm, s.postNorm, H);
      const size_t qkv = (qd + 2 * kvd) * H;
      upload(L.wqkv, s.q, qd * H, 0, qkv);
      upload(L.wqkv, s.k, kvd * H, qd * H, qkv);
      upload(L.wqkv, s.v, kvd * H, (qd + kvd) * H, qkv);
      if (cfg_.qkvBias) {
        const size_t nb = qd + 2 * kvd;
        upload(L.bqkv, s.qBias, qd, 0, nb);
        upload(L.bqkv, s.kBias, kvd, qd, nb);
        upload(L.bqkv, s.vBias, kvd, qd + kvd, nb);
      }
      if (cfg_.qkNorm) {
        upload(L.qNorm, s.qNorm, cfg_.headDim);
        upload(L.kNorm, s.kNorm, cfg_.headDim);
      }
      upload(L.wo, s.o, H * qd);
      upload(L.wgateUp, s.gate, I * H, 0, 2 * I * H);
      upload(L.wgateUp, s.up, I * H, I * H, 2 * I * H);
      upload(L.wdown, s.down, H * I);
    }
    if (grew) ++stats_.weightAllocations;
    stats_.weightBytes = bytes;
  }

  // Profiling and prompt sharing are per call, so one process can prove a batch both ways and compare.
  void prove(const BatchView& batch, const int32_t rvec[16], const ProveOptions& options,
             ProveOutput& out) override {
    CUDA_CHECK(cudaSetDevice(device_));
    prof_.begin(stream_, options.profile);
    forward(batch, options.sharePrompts);
    const int64_t T = batch.totalTokens();
    const int64_t R = plan_.rows();
    int64_t lpCount = 0;
    std::vector<LogitRow> rows = plan_logit_rows(batch, &lpCount);
    for (LogitRow& r : rows) r.position = plan_.rowOf[r.position];
    const ProofOutputBuffers ob = proof_output_buffers(R, lpCount, batch.size());
    rvec_.reserve(ob.rvec);
    {
      StageScope p(prof_, Stage::CopyH2D);
      CUDA_CHECK(cudaMemcpyAsync(rvec_.get(), rvec, 16 * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    }
    sVals_.reserve(ob.sVals);
    {
      StageScope p(prof_, Stage::Sketch);
      sketch(hl_.get(), R, cfg_.hidden, rvec_.get(), sVals_.get(), stream_);
    }

    logprobs_.reserve(ob.logprobs);
    eosProb_.reserve(ob.eosProb);
    {
      StageScope p(prof_, Stage::CopyH2D);
      CUDA_CHECK(cudaMemsetAsync(eosProb_.get(), 0xff, batch.size() * sizeof(double), stream_));  // NaN
    }
    forEachLogitsChunk(rows, [&](size_t r0, size_t r1) {
      StageScope p(prof_, Stage::LogitReduce);
      logit_reduce(logits_.get(), static_cast<int64_t>(r1 - r0), cfg_.vocab, rowTargets_.get() + r0,
                   rowLpAt_.get() + r0, rowEos_.get() + r0, cfg_.eosTokenId, logprobs_.get(), eosProb_.get(),
                   stream_);
    });
    rowSVals_.resize(R);
    out.logprobs.resize(lpCount);
    out.eosProb.resize(batch.size());
    {
      StageScope p(prof_, Stage::CopyD2H);
      CUDA_CHECK(
          cudaMemcpyAsync(rowSVals_.data(), sVals_.get(), R * sizeof(uint32_t), cudaMemcpyDeviceToHost, stream_));
      CUDA_CHECK(cudaMemcpyAsync(out.logprobs.data(), logprobs_.get(), lpCount * sizeof(float),
                                 cudaMemcpyDeviceToHost, stream_));
      CUDA_CHECK(cudaMemcpyAsync(out.eosProb.data(), eosProb_.get(), batch.size() * sizeof(double),
                                 cudaMemcpyDeviceToHost, stream_));
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    out.sVals.resize(T);
    for (int64_t t = 0; t < T; ++t) out.sVals[t] = rowSVals_[plan_.rowOf[t]];
    for (double& e : out.eosProb) {
      if (cfg_.eosTokenId < 0) e = std::numeric_limits<double>::quiet_NaN();
    }
    if (prof_.active()) {
      ProfileShape shape;
      shape.tokens = R;
      shape.sequences = static_cast<int64_t>(batch.size());
      shape.logitRows = static_cast<int64_t>(rows.size());
      shape.maxLen = plan_.maxLen;
      shape.engineBytes = deviceBytes();
      shape.weightBytes = stats_.weightBytes;
      prof_.finish(shape);
    }
  }

  void lastLogits(const BatchView& batch, std::vector<float>& out) override {
    CUDA_CHECK(cudaSetDevice(device_));
    prof_.idle();
    forward(batch, false);
    std::vector<LogitRow> rows;
    for (size_t s = 0; s < batch.size(); ++s) rows.push_back({plan_.rowOf[batch.offsets[s + 1] - 1], -1, -1, -1});
    const size_t V = cfg_.vocab;
    out.resize(rows.size() * V);
    floatOut_.reserve(rows.size() * V);
    forEachLogitsChunk(rows, [&](size_t r0, size_t r1) {
      to_float(logits_.get(), floatOut_.get() + r0 * V, static_cast<int64_t>((r1 - r0) * V), stream_);
    });
    CUDA_CHECK(cudaMemcpyAsync(out.data(), floatOut_.get(), out.size() * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void hiddenStates(const BatchView& batch, std::vector<float>& out) override {
    CUDA_CHECK(cudaSetDevice(device_));
    prof_.idle();
    forward(batch, false);  // unshared: computed rows are the batch's positions in order
    const size_t n = static_cast<size_t>(batch.totalTokens()) * cfg_.hidden;
    floatOut_.reserve(n);
    to_float(hl_.get(), floatOut_.get(), static_cast<int64_t>(n), stream_);
    out.resize(n);
    CUDA_CHECK(cudaMemcpyAsync(out.data(), floatOut_.get(), n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  // Uploads the row plan, then computes bf16 logits for bounded chunks of rows into logits_ and calls
  // fn(r0, r1) for each chunk (rows r0..r1 of the plan are rows 0..r1-r0 of logits_).
  template <typename Fn>
  void forEachLogitsChunk(const std::vector<LogitRow>& rows, Fn fn) {
    const size_t M = rows.size();
    if (M == 0) return;
    const int H = cfg_.hidden, V = cfg_.vocab;
    std::vector<int64_t> pos(M), lpAt(M);
    std::vector<int32_t> targets(M), eos(M);
    for (size_t r = 0; r < M; ++r) {
      pos[r] = rows[r].position;
      lpAt[r] = rows[r].logprobAt;
      targets[r] = rows[r].target;
      eos[r] = rows[r].eosSeq;
    }
    const LogitBuffers lb = logit_buffers(cfg_, M);
    rowPos_.reserve(lb.rows);
    rowLpAt_.reserve(lb.rows);
    rowTargets_.reserve(lb.rows);
    rowEos_.reserve(lb.rows);
    {
      StageScope p(prof_, Stage::CopyH2D);
      CUDA_CHECK(cudaMemcpyAsync(rowPos_.get(), pos.data(), M * 8, cudaMemcpyHostToDevice, stream_));
      CUDA_CHECK(cudaMemcpyAsync(rowLpAt_.get(), lpAt.data(), M * 8, cudaMemcpyHostToDevice, stream_));
      CUDA_CHECK(cudaMemcpyAsync(rowTargets_.get(), targets.data(), M * 4, cudaMemcpyHostToDevice, stream_));
      CUDA_CHECK(cudaMemcpyAsync(rowEos_.get(), eos.data(), M * 4, cudaMemcpyHostToDevice, stream_));
    }
    // Logits stay bf16 and bounded (kLogitsChunkBytes of rows at a time), never [positions, vocab] fp32.
    const size_t chunk = lb.chunkRows;
    gathered_.reserve(lb.gathered);
    logits_.reserve(lb.logits);
    const bf16* head = tied_ ? embed_.get() : lmHead_.get();
    for (size_t r0 = 0; r0 < M; r0 += chunk) {
      const size_t r1 = std::min(M, r0 + chunk);
      {
        StageScope p(prof_, Stage::GatherRows);
        gather_rows(hl_.get(), rowPos_.get() + r0, static_cast<int64_t>(r1 - r0), H, gathered_.get(), stream_);
      }
      {
        StageScope p(prof_, Stage::GemmLmHead);
        gemm_->run(gathered_.get(), static_cast<int64_t>(r1 - r0), H, head, V, nullptr, logits_.get(), V);
      }
      fn(r0, r1);
    }
  }

  // Lays the batch out (plan_) and runs the decoder over the computed rows: the final-norm hidden states
  // end in hl_, one row per computed row.
  void forward(const BatchView& batch, bool sharePrompts) {
    const int H = cfg_.hidden, I = cfg_.intermediate, hd = cfg_.headDim;
    const int qd = cfg_.qDim(), qkvd = cfg_.qkvDim();
    for (int64_t t = 0; t < batch.totalTokens(); ++t) {
      const int32_t tok = batch.tokens[t];
      if (tok < 0 || tok >= cfg_.vocab) {
        throw EngineException("token_out_of_range", "token id " + std::to_string(tok) + " at packed position " +
                                                        std::to_string(t) + " is outside the vocabulary of " +
                                                        std::to_string(cfg_.vocab));
      }
    }
    plan_ = plan_forward(batch, sharePrompts);
    const int64_t T = plan_.rows();
    const int nseg = static_cast<int>(plan_.segs.size());
    const ForwardBuffers fb = forward_buffers(cfg_, plan_);
    tokens_.reserve(fb.tokens);
    pos_.reserve(fb.pos);
    segs_.reserve(fb.segs);
    {
      StageScope p(prof_, Stage::CopyH2D);
      if (rope_.ensure(plan_.maxLen) || cosT_.size() != rope_.cosBits().size()) {
        if (rope_.cosBits().size() != fb.rope) {
          throw EngineException("internal", "the rope table has " + std::to_string(rope_.cosBits().size()) +
                                                " entries where the memory plan sized " + std::to_string(fb.rope));
        }
        cosT_.resize_exact(fb.rope);
        sinT_.resize_exact(fb.rope);
        CUDA_CHECK(
            cudaMemcpy(cosT_.get(), rope_.cosBits().data(), rope_.cosBits().size() * 2, cudaMemcpyHostToDevice));
        CUDA_CHECK(
            cudaMemcpy(sinT_.get(), rope_.sinBits().data(), rope_.sinBits().size() * 2, cudaMemcpyHostToDevice));
      }
      CUDA_CHECK(cudaMemcpyAsync(tokens_.get(), plan_.tokens.data(), T * 4, cudaMemcpyHostToDevice, stream_));
      CUDA_CHECK(cudaMemcpyAsync(pos_.get(), plan_.pos.data(), T * 4, cudaMemcpyHostToDevice, stream_));
      CUDA_CHECK(cudaMemcpyAsync(segs_.get(), plan_.segs.data(), nseg * sizeof(AttnSegment), cudaMemcpyHostToDevice,
                                 stream_));
    }
    h_.reserve(fb.h);
    x_.reserve(fb.x);
    qkv_.reserve(fb.qkv);
    attn_.reserve(fb.attn);
    tmp_.reserve(fb.tmp);
    gu_.reserve(fb.gu);
    mlp_.reserve(fb.mlp);
    hl_.reserve(fb.hl);

    const float eps = cfg_.eps;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    {
      StageScope p(prof_, Stage::Embedding);
      embed_gather(tokens_.get(), embed_.get(), h_.get(), T, H, stream_);
    }
    {
      StageScope p(prof_, Stage::RmsNorm);
      add_rmsnorm(h_.get(), nullptr, layers_[0].inputNorm.get(), x_.get(), H, T, H, eps, stream_);
    }
    for (int l = 0; l < cfg_.layers; ++l) {
      Layer& L = layers_[l];
      {
        StageScope p(prof_, Stage::GemmQkv);
        gemm_->run(x_.get(), T, H, L.wqkv.get(), qkvd, cfg_.qkvBias ? L.bqkv.get() : nullptr, qkv_.get(), qkvd);
      }
      {
        StageScope p(prof_, Stage::Rope);
        qk_norm_rope(qkv_.get(), T, qkvd, cfg_.heads, cfg_.kvHeads, hd, pos_.get(), cosT_.get(), sinT_.get(),
                     cfg_.qkNorm ? L.qNorm.get() : nullptr, cfg_.qkNorm ? L.kNorm.get() : nullptr, eps, stream_);
      }
      {
        StageScope p(prof_, Stage::Attention);
        attention(qkv_.get(), qkvd, segs_.get(), nseg, plan_.maxQLen, cfg_.heads, cfg_.kvHeads, hd, scale,
                  attn_.get(), qd, stream_);
      }
      {
        StageScope p(prof_, Stage::GemmO);
        gemm_->run(attn_.get(), T, qd, L.wo.get(), H, nullptr, tmp_.get(), H);
      }
      {
        // h += o, then the post-attention norm of the new h, in one pass over the row
        StageScope p(prof_, Stage::ResidualNorm);
        add_rmsnorm(h_.get(), tmp_.get(), L.postNorm.get(), x_.get(), H, T, H, eps, stream_);
      }
      {
        StageScope p(prof_, Stage::GemmGateUp);
        gemm_->run(x_.get(), T, H, L.wgateUp.get(), 2 * I, nullptr, gu_.get(), 2 * I);
      }
      {
        StageScope p(prof_, Stage::SiluMul);
        silu_mul(gu_.get(), mlp_.get(), T, I, stream_);
      }
      {
        StageScope p(prof_, Stage::GemmDown);
        gemm_->run(mlp_.get(), T, I, L.wdown.get(), H, nullptr, tmp_.get(), H);
      }
      {
        // h += mlp, then the next layer's input norm (or the final norm into hl_)
        StageScope p(prof_, Stage::ResidualNorm);
        const bool last = l + 1 == cfg_.layers;
        add_rmsnorm(h_.get(), tmp_.get(), last ? finalNorm_.get() : layers_[l + 1].inputNorm.get(),
                    last ? hl_.get() : x_.get(), H, T, H, eps, stream_);
      }
    }
  }

  // Device memory this backend holds: weights, activations and row plans (capacities), and the GEMM
  // workspace. The CUDA context and allocator slack are not in it; cudaMemGetInfo in the profile is.
  // Counted from the buffers themselves, so it checks proof_memory() (memory_plan.h) on a GPU.
  uint64_t deviceBytes() const {
    uint64_t b = gemm_->workspaceBytes();
    for (const auto* buf : {&embed_, &finalNorm_, &lmHead_, &cosT_, &sinT_, &h_, &x_, &qkv_, &attn_, &tmp_, &gu_,
                            &mlp_, &hl_, &gathered_, &logits_}) {
      b += buf->bytes();
    }
    for (const Layer& L : layers_) {
      for (const auto* buf : {&L.inputNorm, &L.wqkv, &L.bqkv, &L.wo, &L.qNorm, &L.kNorm, &L.postNorm, &L.wgateUp,
                              &L.wdown}) {
        b += buf->bytes();
      }
    }
    b += tokens_.bytes() + pos_.bytes() + segs_.bytes() + rvec_.bytes() + rowTargets_.bytes() +
         rowEos_.bytes() + rowPos_.bytes() + rowLpAt_.bytes() + sVals_.bytes() + logprobs_.bytes() +
         floatOut_.bytes() + eosProb_.bytes();
    return b;
  }

  ModelConfig cfg_;
  int device_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<LtGemm> gemm_;
  RopeTable rope_;
  BackendStats stats_;
  bool tied_ = false;
  DeviceBuffer<bf16> embed_, finalNorm_, lmHead_, cosT_, sinT_;
  std::vector<Layer> layers_;
  DeviceBuffer<int32_t> tokens_, pos_, rvec_, rowTargets_, rowEos_;
  DeviceBuffer<AttnSegment> segs_;
  ForwardPlan plan_;                // the layout of the last forward pass
  std::vector<uint32_t> rowSVals_;  // sketch values per computed row, before expansion to positions
  DeviceBuffer<int64_t> rowPos_, rowLpAt_;
  DeviceBuffer<bf16> h_, x_, qkv_, attn_, tmp_, gu_, mlp_, hl_, gathered_, logits_;
  DeviceBuffer<uint32_t> sVals_;
  DeviceBuffer<float> logprobs_, floatOut_;
  DeviceBuffer<double> eosProb_;
  StageProfiler prof_;  // declared last: its events are destroyed first, after the destructor's body
};

void copy_message(const std::string& s, char* out, size_t len) {
  if (len == 0) return;
  const size_t n = std::min(s.size(), len - 1);
  std::memcpy(out, s.data(), n);
  out[n] = '\0';
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

}  // namespace
}  // namespace cuda
}  // namespace grail

extern "C" __attribute__((visibility("default"))) int grail_cuda_probe(char* out, size_t outLen) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    grail::cuda::copy_message(std::string("{\"devices\":[],\"error\":\"no usable CUDA device: ") +
                                  grail::cuda::json_escape(cudaGetErrorString(e)) + "\"}",
                              out, outLen);
    return 0;
  }
  std::string json = "{\"devices\":[";
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    if (json.back() != '[') json += ",";
    json += "{\"index\":" + std::to_string(i) + ",\"name\":\"" + grail::cuda::json_escape(p.name) +
            "\",\"totalMemoryBytes\":" + std::to_string(p.totalGlobalMem) + ",\"computeCapability\":\"" +
            std::to_string(p.major) + "." + std::to_string(p.minor) + "\"}";
  }
  json += "]}";
  grail::cuda::copy_message(json, out, outLen);
  return n;
}

extern "C" __attribute__((visibility("default"))) grail::Backend* grail_cuda_create(const grail::ModelConfig* cfg,
                                                                                     int device, char* err,
                                                                                     size_t errLen, char* code,
                                                                                     size_t codeLen) {
  try {
    if (!grail::cuda::attention_supports(cfg->headDim)) {
      throw grail::EngineException("unsupported_config", "head_dim " + std::to_string(cfg->headDim) +
                                                             " is not supported by the CUDA backend (32, 64, 96, "
                                                             "128, 256); use the cpu backend");
    }
    return new grail::cuda::CudaBackend(*cfg, device);
  } catch (const grail::EngineException& e) {
    grail::cuda::copy_message(e.what(), err, errLen);
    grail::cuda::copy_message(e.code(), code, codeLen);
  } catch (const std::exception& e) {
    grail::cuda::copy_message(e.what(), err, errLen);
    grail::cuda::copy_message("cuda_error", code, codeLen);
  }
  return nullptr;
}
