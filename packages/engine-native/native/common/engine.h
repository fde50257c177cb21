// The engine's model description and the backend interface. Both the CPU backend (in the addon) and the
// CUDA backend (a separate shared object loaded at run time) implement grail::Backend.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace grail {

// Error with a stable machine-readable code; the addon turns it into a JS EngineError.
class EngineException : public std::runtime_error {
 public:
  EngineException(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

enum class ModelType { Qwen2 = 0, Qwen3 = 1, Llama = 2 };

struct RopeConfig {
  double theta = 10000.0;
  bool llama3 = false;  // llama3 frequency scaling of inv_freq
  double factor = 1.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  double originalMaxPositions = 8192.0;
  double attentionScaling = 1.0;
};

struct ModelConfig {
  ModelType type = ModelType::Qwen2;
  int hidden = 0;
  int intermediate = 0;
  int layers = 0;
  int heads = 0;
  int kvHeads = 0;
  int headDim = 0;
  int vocab = 0;
  float eps = 1e-6f;
  bool qkvBias = false;
  bool qkNorm = false;
  RopeConfig rope;
  int eosTokenId = -1;  // -1: none

  int qDim() const { return heads * headDim; }
  int kvDim() const { return kvHeads * headDim; }
  int qkvDim() const { return qDim() + 2 * kvDim(); }
};

enum class DType { BF16 = 0, F16 = 1, F32 = 2 };

// Where one tensor lives on disk (safetensors data region), already validated against the config.
struct TensorSource {
  std::string name;
  std::string path;
  uint64_t offset = 0;  // absolute byte offset in the file
  uint64_t numel = 0;
  DType dtype = DType::BF16;
  bool present = false;
};

struct LayerSources {
  TensorSource inputNorm, q, k, v, qBias, kBias, vBias, o, qNorm, kNorm, postNorm, gate, up, down;
};

struct WeightSources {
  TensorSource embed, finalNorm, lmHead;  // lmHead == embed when embeddings are tied
  std::vector<LayerSources> layers;
};

// A packed batch of sequences: tokens of all sequences back to back, offsets[i]..offsets[i+1].
struct BatchView {
  const int32_t* tokens = nullptr;
  std::vector<int64_t> offsets;     // size n+1
  std::vector<int32_t> promptLens;  // size n (prove only)
  size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  int64_t totalTokens() const { return offsets.empty() ? 0 : offsets.back(); }
};

struct ProveOutput {
  std::vector<uint32_t> sVals;   // one per token of the batch
  std::vector<float> logprobs;   // per sequence, its completion tokens, back to back
  std::vector<double> eosProb;   // one per sequence (NaN when undefined)
};

// Switches of one prove() call, set by the caller (the miner's GRAIL_ENGINE_* settings); the CPU backend
// has neither and ignores them. Neither changes a result.
struct ProveOptions {
  bool profile = false;      // time every kernel family (profileJson)
  bool sharePrompts = true;  // compute a group's shared prompt once instead of per rollout
};

struct BackendStats {
  uint64_t weightBytes = 0;
  uint64_t weightAllocations = 0;  // counts (re)allocations of weight storage; reload of equal shapes adds none
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // First load and in-place reload; equal shapes reuse the existing storage.
  virtual void loadWeights(const WeightSources& sources) = 0;
  virtual void prove(const BatchView& batch, const int32_t rvec[16], const ProveOptions& options,
                     ProveOutput& out) = 0;
  // fp32 logits of each sequence's last position, [n, vocab].
  virtual void lastLogits(const BatchView& batch, std::vector<float>& out) = 0;
  // Committed hidden state (after the final norm) of every position, [tokens, hidden]: a diagnostic.
  virtual void hiddenStates(const BatchView& batch, std::vector<float>& out) = 0;
  virtual BackendStats stats() const = 0;
  // JSON per-stage timings of the last prove() when it ran with options.profile; empty otherwise
  // (and always for backends without a profiler).
  virtual std::string profileJson() const { return std::string(); }
};

}  // namespace grail
