// Compiled with -ffp-contract=off: every fp32 operation below must round separately, as torch's do.
#include "rope.h"

#include <cmath>

#include "bf16.h"

namespace grail {

std::vector<float> rope_inv_freq(const ModelConfig& cfg) {
  const int dim = cfg.headDim;
  const int half = dim / 2;
  std::vector<float> inv(half);
  const float base = static_cast<float>(cfg.rope.theta);
  for (int i = 0; i < half; ++i) {
    // 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all in fp32
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[i] = 1.0f / std::pow(base, e);
  }
  if (!cfg.rope.llama3) return inv;

  const float factor = static_cast<float>(cfg.rope.factor);
  const float lowFactor = static_cast<float>(cfg.rope.lowFreqFactor);
  const float highFactor = static_cast<float>(cfg.rope.highFreqFactor);
  const float oldContext = static_cast<float>(cfg.rope.originalMaxPositions);
  const float lowWavelen = static_cast<float>(cfg.rope.originalMaxPositions / cfg.rope.lowFreqFactor);
  const float highWavelen = static_cast<float>(cfg.rope.originalMaxPositions / cfg.rope.highFreqFactor);
  const float twoPi = static_cast<float>(2.0 * M_PI);
  for (int i = 0; i < half; ++i) {
    const float f = inv[i];
    const float wavelen = twoPi / f;
    float scaled = wavelen > lowWavelen ? f / factor : f;
    const bool medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    if (medium) {
      const float smooth = (oldContext / wavelen - lowFactor) / (highFactor - lowFactor);
      const float a = (1.0f - smooth) * scaled;
      const float b = a / factor;
      const float c = smooth * scaled;
      scaled = b + c;
    }
    inv[i] = scaled;
  }
  return inv;
}

int64_t rope_table_rows(int64_t positions) {
  int64_t rows = 1024;
  while (rows < positions) rows *= 2;
  return rows;
}

RopeTable::RopeTable(const ModelConfig& cfg)
    : invFreq_(rope_inv_freq(cfg)), scaling_(static_cast<float>(cfg.rope.attentionScaling)), half_(cfg.headDim / 2) {}

bool RopeTable::ensure(int64_t positions) {
  if (positions <= positions_) return false;
  const int64_t target = rope_table_rows(positions);
  const size_t n = static_cast<size_t>(target) * half_;
  cos_.resize(n);
  sin_.resize(n);
  cosBits_.resize(n);
  sinBits_.resize(n);
  for (int64_t p = positions_; p < target; ++p) {
    for (int i = 0; i < half_; ++i) {
      const float angle = static_cast<float>(p) * invFreq_[i];
      const float c = static_cast<float>(std::cos(static_cast<double>(angle))) * scaling_;
      const float s = static_cast<float>(std::sin(static_cast<double>(angle))) * scaling_;
      const size_t at = static_cast<size_t>(p) * half_ + i;
      cosBits_[at] = float_to_bf16_bits(c);
      sinBits_[at] = float_to_bf16_bits(s);
      cos_[at] = bf16_bits_to_float(cosBits_[at]);
      sin_[at] = bf16_bits_to_float(sinBits_[at]);
    }
  }
  positions_ = target;
  return true;
}

}  // namespace grail
