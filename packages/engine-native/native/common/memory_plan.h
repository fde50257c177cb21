// Device memory of the CUDA backend, sized in one place: the backend reserves its buffers from these
// figures and proof_memory() adds them up for a batch, so what the engine reports is what it allocates.
// The addon exposes proof_memory(), so a CPU-only build can tell an operator what a GPU will need. The
// CUDA context, cuBLASLt's kernels and the allocator's rounding are not in it (they are not the
// engine's allocations; cudaMemGetInfo in the profile sees them).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine.h"
#include "forward_plan.h"

namespace grail {

// cuBLASLt workspace of one backend (LtGemm).
constexpr size_t kGemmWorkspaceBytes = size_t{64} << 20;
// lm_head logits stay bf16 and are computed in chunks of at most this many bytes, never as
// [positions, vocab] at once.
constexpr size_t kLogitsChunkBytes = size_t{512} << 20;

// Elements of each buffer forward() reserves for a plan.
struct ForwardBuffers {
  size_t tokens = 0, pos = 0;                                             // int32 per computed row
  size_t segs = 0;                                                        // AttnSegment
  size_t h = 0, x = 0, qkv = 0, attn = 0, tmp = 0, gu = 0, mlp = 0, hl = 0;  // bf16 activations
  size_t rope = 0;                                                        // bf16, each of the cos and sin tables
  uint64_t bytes() const;
};
ForwardBuffers forward_buffers(const ModelConfig& cfg, const ForwardPlan& plan);

// Elements of what the lm_head pass reserves for m logit rows.
struct LogitBuffers {
  size_t rows = 0;       // each of rowPos, rowLpAt (int64) and rowTargets, rowEos (int32)
  size_t chunkRows = 0;  // rows of logits computed at once
  size_t gathered = 0, logits = 0;  // bf16
  uint64_t bytes() const;
};
LogitBuffers logit_buffers(const ModelConfig& cfg, size_t m);

// prove()'s own buffers: the r-vector, sketch values per computed row, logprobs, EOS probabilities.
struct ProofOutputBuffers {
  size_t rvec = 0, sVals = 0, logprobs = 0, eosProb = 0;  // int32, uint32, float, double
  uint64_t bytes() const;
};
ProofOutputBuffers proof_output_buffers(int64_t rows, int64_t logprobs, size_t sequences);

// Elements of the weights the CUDA backend keeps (bf16): embeddings, lm_head unless tied, every layer.
uint64_t weight_elements(const ModelConfig& cfg, bool tiedEmbeddings);

struct MemoryNeed {
  uint64_t weightsBytes = 0;
  uint64_t activationBytes = 0;  // activations, row plans, rope tables, logits chunk and proof outputs
  uint64_t workspaceBytes = 0;
  uint64_t totalBytes = 0;
  int64_t rows = 0;       // rows the forward pass computes
  int64_t logitRows = 0;  // rows through lm_head
};

// Device memory the CUDA backend holds after proving `batch` (prompts set), when no earlier batch was
// larger: each buffer keeps the capacity of the largest batch it has seen.
MemoryNeed proof_memory(const ModelConfig& cfg, bool tiedEmbeddings, const BatchView& batch, bool sharePrompts);

}  // namespace grail
