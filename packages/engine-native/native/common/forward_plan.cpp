#include "forward_plan.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace grail {

ForwardPlan plan_forward(const BatchView& batch, bool sharePrompts) {
  ForwardPlan plan;
  const size_t n = batch.size();
  const int64_t T = batch.totalTokens();
  plan.rowOf.resize(T);
  plan.tokens.reserve(T);
  plan.pos.reserve(T);
  std::unordered_map<uint64_t, std::vector<size_t>> promptsByHash;  // sequences whose prompt rows were laid out
  std::vector<int64_t> promptRow(n, -1);
  auto append = [&](int64_t start, int64_t from, int64_t to) {
    for (int64_t p = from; p < to; ++p) {
      plan.rowOf[start + p] = plan.rows();
      plan.tokens.push_back(batch.tokens[start + p]);
      plan.pos.push_back(static_cast<int32_t>(p));
    }
  };
  for (size_t s = 0; s < n; ++s) {
    const int64_t start = batch.offsets[s];
    const int64_t len = batch.offsets[s + 1] - start;
    plan.maxLen = std::max(plan.maxLen, len);
    const int64_t prompt = sharePrompts && !batch.promptLens.empty()
                               ? std::min<int64_t>(std::max<int32_t>(batch.promptLens[s], 0), len)
                               : 0;
    if (prompt > 0) {
      uint64_t h = 1469598103934665603ull ^ static_cast<uint64_t>(prompt);  // FNV-1a over the prompt tokens
      for (int64_t p = 0; p < prompt; ++p) h = (h ^ static_cast<uint32_t>(batch.tokens[start + p])) * 1099511628211ull;
      std::vector<size_t>& same = promptsByHash[h];
      for (size_t c : same) {
        const int64_t cs = batch.offsets[c];
        if (batch.promptLens[c] == prompt &&
            std::memcmp(batch.tokens + cs, batch.tokens + start, static_cast<size_t>(prompt) * sizeof(int32_t)) == 0) {
          promptRow[s] = promptRow[c];
          break;
        }
      }
      if (promptRow[s] < 0) {
        promptRow[s] = plan.rows();
        plan.segs.push_back({static_cast<int32_t>(plan.rows()), static_cast<int32_t>(prompt),
                             static_cast<int32_t>(plan.rows()), 0});
        append(start, 0, prompt);
        same.push_back(s);
      } else {
        for (int64_t p = 0; p < prompt; ++p) plan.rowOf[start + p] = promptRow[s] + p;
      }
    }
    if (len > prompt) {
      plan.segs.push_back({static_cast<int32_t>(plan.rows()), static_cast<int32_t>(len - prompt),
                           static_cast<int32_t>(prompt > 0 ? promptRow[s] : plan.rows()),
                           static_cast<int32_t>(prompt)});
      append(start, prompt, len);
    }
  }
  for (const AttnSegment& sg : plan.segs) plan.maxQLen = std::max(plan.maxQLen, sg.qLen);
  return plan;
}

}  // namespace grail
