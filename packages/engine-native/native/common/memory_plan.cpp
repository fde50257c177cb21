#include "memory_plan.h"

#include <algorithm>
#include <vector>

#include "logit_rows.h"
#include "rope.h"

namespace grail {

uint64_t ForwardBuffers::bytes() const {
  return (tokens + pos) * sizeof(int32_t) + segs * sizeof(AttnSegment) +
         (h + x + qkv + attn + tmp + gu + mlp + hl + 2 * rope) * sizeof(uint16_t);
}

ForwardBuffers forward_buffers(const ModelConfig& cfg, const ForwardPlan& plan) {
  const size_t T = static_cast<size_t>(plan.rows());
  const size_t H = cfg.hidden, I = cfg.intermediate;
  ForwardBuffers b;
  b.tokens = b.pos = T;
  b.segs = plan.segs.size();
  b.h = b.x = b.tmp = b.hl = T * H;
  b.qkv = T * cfg.qkvDim();
  b.attn = T * cfg.qDim();
  b.gu = T * 2 * I;
  b.mlp = T * I;
  b.rope = static_cast<size_t>(rope_table_rows(plan.maxLen)) * (cfg.headDim / 2);
  return b;
}

uint64_t LogitBuffers::bytes() const {
  return rows * (2 * sizeof(int64_t) + 2 * sizeof(int32_t)) + (gathered + logits) * sizeof(uint16_t);
}

LogitBuffers logit_buffers(const ModelConfig& cfg, size_t m) {
  LogitBuffers b;
  if (m == 0) return b;  // nothing goes through lm_head, nothing is reserved
  const size_t V = cfg.vocab;
  b.rows = m;
  b.chunkRows = std::max<size_t>(1, std::min(m, kLogitsChunkBytes / (V * sizeof(uint16_t))));
  b.gathered = b.chunkRows * cfg.hidden;
  b.logits = b.chunkRows * V;
  return b;
}

uint64_t ProofOutputBuffers::bytes() const {
  return rvec * sizeof(int32_t) + sVals * sizeof(uint32_t) + logprobs * sizeof(float) + eosProb * sizeof(double);
}

ProofOutputBuffers proof_output_buffers(int64_t rows, int64_t logprobs, size_t sequences) {
  ProofOutputBuffers b;
  b.rvec = 16;
  b.sVals = static_cast<size_t>(rows);
  b.logprobs = static_cast<size_t>(std::max<int64_t>(logprobs, 1));
  b.eosProb = std::max<size_t>(sequences, 1);
  return b;
}

uint64_t weight_elements(const ModelConfig& cfg, bool tiedEmbeddings) {
  const uint64_t H = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  const uint64_t qd = cfg.qDim(), kvd = cfg.kvDim();
  uint64_t layer = 2 * H                 // input and post-attention norms
                   + (qd + 2 * kvd) * H  // packed q, k, v
                   + H * qd              // o
                   + 2 * I * H + H * I;  // gate/up, down
  if (cfg.qkvBias) layer += qd + 2 * kvd;
  if (cfg.qkNorm) layer += 2 * static_cast<uint64_t>(cfg.headDim);
  return V * H * (tiedEmbeddings ? 1 : 2) + H + layer * static_cast<uint64_t>(cfg.layers);
}

MemoryNeed proof_memory(const ModelConfig& cfg, bool tiedEmbeddings, const BatchView& batch, bool sharePrompts) {
  const ForwardPlan plan = plan_forward(batch, sharePrompts);
  int64_t logprobs = 0;
  const std::vector<LogitRow> rows = plan_logit_rows(batch, &logprobs);
  MemoryNeed need;
  need.rows = plan.rows();
  need.logitRows = static_cast<int64_t>(rows.size());
  need.weightsBytes = weight_elements(cfg, tiedEmbeddings) * sizeof(uint16_t);
  need.activationBytes = forward_buffers(cfg, plan).bytes() + logit_buffers(cfg, rows.size()).bytes() +
                         proof_output_buffers(plan.rows(), logprobs, batch.size()).bytes();
  need.workspaceBytes = kGemmWorkspaceBytes;
  need.totalBytes = need.weightsBytes + need.activationBytes + need.workspaceBytes;
  return need;
}

}  // namespace grail
