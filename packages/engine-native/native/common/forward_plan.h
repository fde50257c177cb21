// The rows a forward pass computes for a batch (shared by the CUDA backend, which lays its batches out
// this way, and the memory report, which sizes the backend's buffers from the same layout).
#pragma once

#include <cstdint>
#include <vector>

#include "engine.h"

namespace grail {

// A run of queries and the keys they see. Queries are packed rows qStart .. qStart+qLen-1 at positions
// prefixLen .. prefixLen+qLen-1; key position j is row prefixStart + j below prefixLen and row
// qStart + (j - prefixLen) from there on. A sequence computed whole is one segment with prefixLen 0; a group's
// shared prompt is one such segment and each completion a segment whose prefix is the prompt's rows.
struct AttnSegment {
  int32_t qStart;
  int32_t qLen;
  int32_t prefixStart;
  int32_t prefixLen;
};

// Every position of the batch has one computed row, but rollouts whose prompts are equal (same length,
// same tokens) map their prompt positions to one shared copy: a position's hidden state depends only on
// the tokens up to it, and the shared rows see the same keys in the same 128-key blocks as unshared ones
// (attention.cu), so the results are the same bits while a group of 16 computes its prompt once instead
// of 16 times.
struct ForwardPlan {
  std::vector<int32_t> tokens;    // per computed row
  std::vector<int32_t> pos;       // per computed row: position inside its sequence
  std::vector<AttnSegment> segs;  // attention segments over the computed rows
  std::vector<int64_t> rowOf;     // per position of the batch (packed index): its computed row
  int64_t maxLen = 0;             // longest sequence
  int maxQLen = 0;                // longest segment
  int64_t rows() const { return static_cast<int64_t>(tokens.size()); }
};

ForwardPlan plan_forward(const BatchView& batch, bool sharePrompts);

}  // namespace grail
