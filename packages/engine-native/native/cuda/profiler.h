// Opt-in per-stage timing of one prove() call (ProveOptions::profile): a pair of CUDA events around
// every kernel family on the backend's stream, summed per stage once the call has synchronised. The
// switch comes with each call, so one process can prove the same batch with and without profiling and
// compare. Disabled, every hook is one predictable branch: no event, no allocation, no
// synchronisation, and the kernels and their order are the same either way.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace grail {
namespace cuda {

// Kernel families of the forward pass and the proof reductions, in pipeline order.
enum class Stage : int {
  Embedding = 0,
  RmsNorm,
  GemmQkv,
  Rope,
  Attention,
  GemmO,
  ResidualNorm,
  GemmGateUp,
  SiluMul,
  GemmDown,
  Sketch,
  GatherRows,
  GemmLmHead,
  LogitReduce,
  CopyH2D,
  CopyD2H,
  Count
};

inline const char* stage_name(Stage s) {
  static const char* const names[] = {
      "embedding", "rmsnorm",   "gemm_qkv",    "rope",         "attention",    "gemm_o",   "residual_norm", "gemm_gate_up",
      "silu_mul",  "gemm_down", "sketch",      "gather_rows",  "gemm_lm_head", "logit_reduce", "copy_h2d", "copy_d2h"};
  static_assert(sizeof(names) / sizeof(names[0]) == static_cast<size_t>(Stage::Count), "one name per stage");
  return names[static_cast<int>(s)];
}

// What the profile reports besides the stage times; filled by the backend when the call ends.
struct ProfileShape {
  int64_t tokens = 0;
  int64_t sequences = 0;
  int64_t logitRows = 0;
  int64_t maxLen = 0;
  uint64_t engineBytes = 0;  // device memory the backend holds (weights, activations, workspace)
  uint64_t weightBytes = 0;
};

class StageProfiler {
 public:
  StageProfiler() = default;
  StageProfiler(const StageProfiler&) = delete;
  StageProfiler& operator=(const StageProfiler&) = delete;
  ~StageProfiler() {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }

  // Starts a call: arms the profiler when `enabled`, and forgets the previous call's report either way.
  void begin(cudaStream_t stream, bool enabled) {
    json_.clear();
    marks_.clear();
    used_ = 0;
    active_ = enabled;
    if (!active_) return;
    stream_ = stream;
    wallStart_ = std::chrono::steady_clock::now();
    callStart_ = record();
  }

  bool active() const { return active_; }

  // lastLogits and hiddenStates are never profiled, also right after a profiled prove() that threw.
  void idle() {
    active_ = false;
    marks_.clear();
    used_ = 0;
  }

  // Index of the event recorded now on the stream; -1 when inactive or when recording failed (the
  // stage is then left out rather than failing the proof).
  int record() {
    if (!active_) return -1;
    if (used_ == events_.size()) {
      cudaEvent_t e = nullptr;
      if (cudaEventCreate(&e) != cudaSuccess) return -1;
      events_.push_back(e);
    }
    if (cudaEventRecord(events_[used_], stream_) != cudaSuccess) return -1;
    return static_cast<int>(used_++);
  }

  void mark(Stage s, int startEvent, int endEvent) {
    if (startEvent >= 0 && endEvent >= 0) marks_.push_back({s, startEvent, endEvent});
  }

  // Ends the call after the stream has been synchronised: sums the event pairs per stage and keeps the
  // report as JSON for lastProfile().
  void finish(const ProfileShape& shape) {
    if (!active_) return;
    const int callEnd = record();
    if (callEnd >= 0) {
      cudaEventSynchronize(events_[callEnd]);
    } else {
      cudaStreamSynchronize(stream_);
    }
    const double wallMs =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wallStart_).count();
    std::array<double, static_cast<size_t>(Stage::Count)> ms{};
    std::array<int64_t, static_cast<size_t>(Stage::Count)> calls{};
    for (const Mark& m : marks_) {
      float t = 0.f;
      if (cudaEventElapsedTime(&t, events_[m.start], events_[m.end]) != cudaSuccess) continue;
      ms[static_cast<size_t>(m.stage)] += t;
      calls[static_cast<size_t>(m.stage)] += 1;
    }
    float gpuMs = 0.f;
    if (callStart_ >= 0 && callEnd >= 0) cudaEventElapsedTime(&gpuMs, events_[callStart_], events_[callEnd]);
    size_t freeB = 0, totalB = 0;
    if (cudaMemGetInfo(&freeB, &totalB) != cudaSuccess) freeB = totalB = 0;
    cudaGetLastError();  // a failed query above must not surface as the next launch's error

    std::string j = "{\"tokens\":" + std::to_string(shape.tokens) + ",\"sequences\":" +
                    std::to_string(shape.sequences) + ",\"logitRows\":" + std::to_string(shape.logitRows) +
                    ",\"maxLen\":" + std::to_string(shape.maxLen) + ",\"wallMs\":" + num(wallMs) +
                    ",\"gpuMs\":" + num(gpuMs) + ",\"stages\":[";
    for (size_t i = 0; i < ms.size(); ++i) {
      if (i > 0) j += ",";
      j += std::string("{\"name\":\"") + stage_name(static_cast<Stage>(i)) + "\",\"ms\":" + num(ms[i]) +
           ",\"calls\":" + std::to_string(calls[i]) + "}";
    }
    j += "],\"memory\":{\"deviceUsedBytes\":" + std::to_string(totalB - freeB) +
         ",\"deviceTotalBytes\":" + std::to_string(totalB) + ",\"engineBytes\":" + std::to_string(shape.engineBytes) +
         ",\"weightBytes\":" + std::to_string(shape.weightBytes) + "}}";
    json_ = std::move(j);
    active_ = false;
  }

  // The last finished call's report; empty when that call ran without profiling or failed.
  const std::string& json() const { return json_; }

 private:
  struct Mark {
    Stage stage;
    int start;
    int end;
  };

  static std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    return buf;
  }

  bool active_ = false;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> events_;  // reused across calls; grows to the most one call needed
  size_t used_ = 0;
  std::vector<Mark> marks_;
  int callStart_ = -1;
  std::chrono::steady_clock::time_point wallStart_;
  std::string json_;
};

// Times the enclosing block as one call of a stage (every kernel or copy it enqueues on the stream).
class StageScope {
 public:
  StageScope(StageProfiler& p, Stage s) : p_(p), stage_(s), start_(p.active() ? p.record() : -1) {}
  ~StageScope() {
    if (start_ >= 0) p_.mark(stage_, start_, p_.record());
  }
  StageScope(const StageScope&) = delete;
  StageScope& operator=(const StageScope&) = delete;

 private:
  StageProfiler& p_;
  Stage stage_;
  int start_;
};

}  // namespace cuda
}  // namespace grail
