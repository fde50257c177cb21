// Rotary position tables computed as the reference does: inv_freq in fp32 (with llama3 scaling when the
// config asks for it), angle = pos * inv_freq in fp32, cos/sin times the attention scaling, rounded to bf16.
#pragma once

#include <cstdint>
#include <vector>

#include "engine.h"

namespace grail {

std::vector<float> rope_inv_freq(const ModelConfig& cfg);

// Rows a table holds once it covers `positions`: 1024, doubled until enough (it grows geometrically so a
// stream of slightly longer batches does not recompute it every time).
int64_t rope_table_rows(int64_t positions);

class RopeTable {
 public:
  explicit RopeTable(const ModelConfig& cfg);
  // Makes rows [0, positions) available; returns true when the table grew.
  bool ensure(int64_t positions);
  int64_t positions() const { return positions_; }
  int halfDim() const { return half_; }
  // Row p holds half_ values: cos/sin of the first half (the second half repeats them).
  const float* cosRow(int64_t p) const { return &cos_[static_cast<size_t>(p) * half_]; }
  const float* sinRow(int64_t p) const { return &sin_[static_cast<size_t>(p) * half_]; }
  const std::vector<uint16_t>& cosBits() const { return cosBits_; }
  const std::vector<uint16_t>& sinBits() const { return sinBits_; }

 private:
  std::vector<float> invFreq_;
  float scaling_;
  int half_;
  int64_t positions_ = 0;
  std::vector<float> cos_, sin_;
  std::vector<uint16_t> cosBits_, sinBits_;
};

}  // namespace grail
