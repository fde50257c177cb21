// Which positions of a packed batch need logits, and how a logits row turns into the proof's numbers.
// Shared by the CPU and CUDA backends so both reduce exactly the same rows.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine.h"

namespace grail {

struct LogitRow {
  int64_t position;   // index into the packed batch (its hidden state feeds lm_head)
  int32_t target;     // token whose logprob is wanted, -1 when none
  int64_t logprobAt;  // index into ProveOutput::logprobs, -1 when none
  int32_t eosSeq;     // sequence whose EOS probability this row gives, -1 when none
};

// Rows [promptLen-1, len-2] of every sequence: the completion logprobs read logits[p-1] for p in
// [promptLen, len), and the EOS probability reads logits[len-2]. Completion logprobs of a sequence are
// laid out back to back in sequence order.
inline std::vector<LogitRow> plan_logit_rows(const BatchView& batch, int64_t* logprobCount) {
  std::vector<LogitRow> rows;
  int64_t lpAt = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    const int64_t start = batch.offsets[s];
    const int64_t len = batch.offsets[s + 1] - start;
    const int64_t prompt = batch.promptLens[s];
    if (len < 2) continue;
    const int64_t first = std::max<int64_t>(0, std::min(prompt - 1, len - 2));
    for (int64_t p = first; p <= len - 2; ++p) {
      LogitRow r{start + p, -1, -1, -1};
      if (p + 1 >= prompt) {
        r.target = batch.tokens[start + p + 1];
        r.logprobAt = lpAt + (p + 1 - prompt);
      }
      if (p == len - 2) r.eosSeq = static_cast<int32_t>(s);
      rows.push_back(r);
    }
    lpAt += len - prompt;
  }
  *logprobCount = lpAt;
  return rows;
}

// Stable log-softmax pieces of one row: max and log of the sum of exp(x - max).
struct RowLse {
  float max;
  double logSum;
};

inline RowLse row_lse(const float* logits, int vocab) {
  float m = -std::numeric_limits<float>::infinity();
  for (int v = 0; v < vocab; ++v) m = logits[v] > m ? logits[v] : m;
  double sum = 0.0;
  for (int v = 0; v < vocab; ++v) sum += static_cast<double>(std::exp(logits[v] - m));
  return {m, std::log(sum)};
}

}  // namespace grail
