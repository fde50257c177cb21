// Node-API binding of the proof engine: model creation, weight (re)load, prove, lastLogits and hidden
// states, each run on a worker thread so the event loop stays free.
#include <dlfcn.h>
#include <napi.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/cuda_entry.h"
#include "common/engine.h"
#include "common/memory_plan.h"
#include "cpu/cpu_backend.h"

namespace grail {
namespace {

struct CudaLibrary {
  void* handle = nullptr;
  grail_cuda_probe_fn probe = nullptr;
  grail_cuda_create_fn create = nullptr;
  std::string error;
};

// Loaded once per process and never unloaded: CUDA contexts outlive any single model.
CudaLibrary& cuda_library(const std::string& path) {
  static std::mutex mu;
  static CudaLibrary lib;
  static bool tried = false;
  std::lock_guard<std::mutex> lock(mu);
  if (tried) return lib;
  tried = true;
  lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib.handle == nullptr) {
    const char* e = dlerror();
    lib.error = std::string("cannot load the CUDA backend library ") + path + ": " + (e ? e : "unknown error");
    return lib;
  }
  lib.probe = reinterpret_cast<grail_cuda_probe_fn>(dlsym(lib.handle, "grail_cuda_probe"));
  lib.create = reinterpret_cast<grail_cuda_create_fn>(dlsym(lib.handle, "grail_cuda_create"));
  if (lib.probe == nullptr || lib.create == nullptr) {
    lib.error = "the CUDA backend library " + path + " lacks its entry points; rebuild the package";
    lib.probe = nullptr;
    lib.create = nullptr;
  }
  return lib;
}

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

Napi::Value probe_cuda(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Object result = Napi::Object::New(env);
  CudaLibrary& lib = cuda_library(path);
  if (lib.probe == nullptr) {
    result.Set("deviceCount", 0);
    result.Set("error", lib.error);
    return result;
  }
  std::vector<char> buf(1 << 16, 0);
  const int n = lib.probe(buf.data(), buf.size());
  result.Set("deviceCount", n);
  result.Set("json", std::string(buf.data()));
  return result;
}

int get_int(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Int32Value(); }
double get_double(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().DoubleValue(); }

ModelConfig parse_config(const Napi::Object& o) {
  ModelConfig c;
  c.type = static_cast<ModelType>(get_int(o, "modelType"));
  c.hidden = get_int(o, "hidden");
  c.intermediate = get_int(o, "intermediate");
  c.layers = get_int(o, "layers");
  c.heads = get_int(o, "heads");
  c.kvHeads = get_int(o, "kvHeads");
  c.headDim = get_int(o, "headDim");
  c.vocab = get_int(o, "vocab");
  c.eps = static_cast<float>(get_double(o, "eps"));
  c.qkvBias = o.Get("qkvBias").As<Napi::Boolean>().Value();
  c.qkNorm = o.Get("qkNorm").As<Napi::Boolean>().Value();
  c.eosTokenId = get_int(o, "eosTokenId");
  const Napi::Object r = o.Get("rope").As<Napi::Object>();
  c.rope.theta = get_double(r, "theta");
  c.rope.llama3 = r.Get("llama3").As<Napi::Boolean>().Value();
  c.rope.factor = get_double(r, "factor");
  c.rope.lowFreqFactor = get_double(r, "lowFreqFactor");
  c.rope.highFreqFactor = get_double(r, "highFreqFactor");
  c.rope.originalMaxPositions = get_double(r, "originalMaxPositions");
  c.rope.attentionScaling = get_double(r, "attentionScaling");
  return c;
}

TensorSource parse_tensor(const Napi::Object& parent, const char* key) {
  TensorSource t;
  const Napi::Value v = parent.Get(key);
  if (!v.IsObject()) return t;
  const Napi::Object o = v.As<Napi::Object>();
  t.name = o.Get("name").As<Napi::String>().Utf8Value();
  t.path = o.Get("path").As<Napi::String>().Utf8Value();
  t.offset = static_cast<uint64_t>(get_double(o, "offset"));
  t.numel = static_cast<uint64_t>(get_double(o, "numel"));
  t.dtype = static_cast<DType>(get_int(o, "dtype"));
  t.present = true;
  return t;
}

WeightSources parse_weights(const Napi::Object& o) {
  WeightSources w;
  w.embed = parse_tensor(o, "embed");
  w.finalNorm = parse_tensor(o, "finalNorm");
  w.lmHead = parse_tensor(o, "lmHead");
  const Napi::Array layers = o.Get("layers").As<Napi::Array>();
  for (uint32_t i = 0; i < layers.Length(); ++i) {
    const Napi::Object l = layers.Get(i).As<Napi::Object>();
    LayerSources s;
    s.inputNorm = parse_tensor(l, "inputNorm");
    s.q = parse_tensor(l, "q");
    s.k = parse_tensor(l, "k");
    s.v = parse_tensor(l, "v");
    s.qBias = parse_tensor(l, "qBias");
    s.kBias = parse_tensor(l, "kBias");
    s.vBias = parse_tensor(l, "vBias");
    s.o = parse_tensor(l, "o");
    s.qNorm = parse_tensor(l, "qNorm");
    s.kNorm = parse_tensor(l, "kNorm");
    s.postNorm = parse_tensor(l, "postNorm");
    s.gate = parse_tensor(l, "gate");
    s.up = parse_tensor(l, "up");
    s.down = parse_tensor(l, "down");
    w.layers.push_back(std::move(s));
  }
  return w;
}

struct BatchData {
  std::vector<int32_t> tokens;
  std::vector<int64_t> offsets;
  std::vector<int32_t> promptLens;

  BatchView view() const {
    BatchView v;
    v.tokens = tokens.data();
    v.offsets = offsets;
    v.promptLens = promptLens;
    return v;
  }
};

BatchData parse_batch(const Napi::CallbackInfo& info, bool withPrompts) {
  BatchData b;
  const Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
  b.tokens.assign(tokens.Data(), tokens.Data() + tokens.ElementLength());
  const Napi::Float64Array offsets = info[1].As<Napi::Float64Array>();
  for (size_t i = 0; i < offsets.ElementLength(); ++i) b.offsets.push_back(static_cast<int64_t>(offsets[i]));
  if (withPrompts) {
    const Napi::Int32Array p = info[2].As<Napi::Int32Array>();
    b.promptLens.assign(p.Data(), p.Data() + p.ElementLength());
  }
  return b;
}

// proofMemory(config, tiedEmbeddings, tokens, offsets, promptLens, sharePrompts): the device memory the CUDA
// backend holds after proving that batch (memory_plan.h). Plain arithmetic over the batch's layout: it
// needs no GPU and no CUDA library.
Napi::Value proof_memory_of(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelConfig cfg = parse_config(info[0].As<Napi::Object>());
  const bool tied = info[1].As<Napi::Boolean>().Value();
  const Napi::Int32Array tokens = info[2].As<Napi::Int32Array>();
  const Napi::Float64Array offsets = info[3].As<Napi::Float64Array>();
  const Napi::Int32Array prompts = info[4].As<Napi::Int32Array>();
  const bool share = info[5].As<Napi::Boolean>().Value();
  BatchView batch;
  batch.tokens = tokens.Data();
  for (size_t i = 0; i < offsets.ElementLength(); ++i) batch.offsets.push_back(static_cast<int64_t>(offsets[i]));
  batch.promptLens.assign(prompts.Data(), prompts.Data() + prompts.ElementLength());
  const MemoryNeed need = proof_memory(cfg, tied, batch, share);
  Napi::Object o = Napi::Object::New(env);
  o.Set("weightsBytes", static_cast<double>(need.weightsBytes));
  o.Set("activationBytes", static_cast<double>(need.activationBytes));
  o.Set("workspaceBytes", static_cast<double>(need.workspaceBytes));
  o.Set("totalBytes", static_cast<double>(need.totalBytes));
  o.Set("rows", static_cast<double>(need.rows));
  o.Set("logitRows", static_cast<double>(need.logitRows));
  return o;
}

// Holds the backend; jobs run one at a time (the TS layer serialises calls, the mutex enforces it).
struct ModelState {
  ModelConfig cfg;
  std::string backendName;
  int device = 0;
  int threads = 0;
  std::string cudaLibPath;
  std::mutex mu;
  std::unique_ptr<Backend> backend;

  void ensureBackend() {
    if (backend) return;
    if (backendName == "cpu") {
      backend = make_cpu_backend(cfg, threads);
      return;
    }
    CudaLibrary& lib = cuda_library(cudaLibPath);
    if (lib.create == nullptr) throw EngineException("cuda_unavailable", lib.error);
    char err[2048] = {0};
    char code[64] = {0};
    Backend* b = lib.create(&cfg, device, err, sizeof err, code, sizeof code);
    if (b == nullptr) throw EngineException(code[0] ? code : "cuda_unavailable", err);
    backend.reset(b);
  }
};

class EngineWorker : public Napi::AsyncWorker {
 public:
  EngineWorker(Napi::Env env, std::shared_ptr<ModelState> state)
      : Napi::AsyncWorker(env), state_(std::move(state)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  virtual void run(ModelState& s) = 0;
  virtual Napi::Value result(Napi::Env env) = 0;

  void Execute() override {
    try {
      std::lock_guard<std::mutex> lock(state_->mu);
      run(*state_);
    } catch (const EngineException& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "out_of_memory";
      SetError("host memory exhausted; use a smaller batch or fewer threads");
    } catch (const std::exception& e) {
      code_ = "internal";
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(result(Env())); }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(make_error(Env(), code_, e.Message()).Value());
  }

  std::shared_ptr<ModelState> state_;

 private:
  Napi::Promise::Deferred deferred_;
  std::string code_ = "internal";
};

class LoadWorker final : public EngineWorker {
 public:
  LoadWorker(Napi::Env env, std::shared_ptr<ModelState> s, WeightSources w)
      : EngineWorker(env, std::move(s)), weights_(std::move(w)) {}

 protected:
  void run(ModelState& s) override {
    s.ensureBackend();
    s.backend->loadWeights(weights_);
  }
  Napi::Value result(Napi::Env env) override { return env.Undefined(); }

 private:
  WeightSources weights_;
};

class ProveWorker final : public EngineWorker {
 public:
  ProveWorker(Napi::Env env, std::shared_ptr<ModelState> s, BatchData b, std::vector<int32_t> rvec,
              ProveOptions options)
      : EngineWorker(env, std::move(s)), batch_(std::move(b)), rvec_(std::move(rvec)), options_(options) {}

 protected:
  void run(ModelState& s) override {
    if (!s.backend) throw EngineException("closed", "the model is closed");
    s.backend->prove(batch_.view(), rvec_.data(), options_, out_);
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    Napi::Uint32Array sv = Napi::Uint32Array::New(env, out_.sVals.size());
    std::memcpy(sv.Data(), out_.sVals.data(), out_.sVals.size() * sizeof(uint32_t));
    Napi::Float32Array lp = Napi::Float32Array::New(env, out_.logprobs.size());
    std::memcpy(lp.Data(), out_.logprobs.data(), out_.logprobs.size() * sizeof(float));
    Napi::Float64Array eos = Napi::Float64Array::New(env, out_.eosProb.size());
    std::memcpy(eos.Data(), out_.eosProb.data(), out_.eosProb.size() * sizeof(double));
    o.Set("sVals", sv);
    o.Set("logprobs", lp);
    o.Set("eosProb", eos);
    return o;
  }

 private:
  BatchData batch_;
  std::vector<int32_t> rvec_;
  ProveOptions options_;
  ProveOutput out_;
};

class FloatsWorker final : public EngineWorker {
 public:
  enum class Kind { LastLogits, Hidden };
  FloatsWorker(Napi::Env env, std::shared_ptr<ModelState> s, BatchData b, Kind k)
      : EngineWorker(env, std::move(s)), batch_(std::move(b)), kind_(k) {}

 protected:
  void run(ModelState& s) override {
    if (!s.backend) throw EngineException("closed", "the model is closed");
    if (kind_ == Kind::LastLogits) {
      s.backend->lastLogits(batch_.view(), out_);
    } else {
      s.backend->hiddenStates(batch_.view(), out_);
    }
  }
  Napi::Value result(Napi::Env env) override {
    Napi::Float32Array a = Napi::Float32Array::New(env, out_.size());
    std::memcpy(a.Data(), out_.data(), out_.size() * sizeof(float));
    return a;
  }

 private:
  BatchData batch_;
  Kind kind_;
  std::vector<float> out_;
};

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod("load", &NativeModel::Load), InstanceMethod("prove", &NativeModel::Prove),
                        InstanceMethod("lastLogits", &NativeModel::LastLogits),
                        InstanceMethod("hiddenStates", &NativeModel::HiddenStates),
                        InstanceMethod("stats", &NativeModel::Stats), InstanceMethod("profile", &NativeModel::Profile),
                        InstanceMethod("close", &NativeModel::Close)});
  }

  // new NativeModel(config, backend, device, threads, cudaLibPath)
  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    state_ = std::make_shared<ModelState>();
    state_->cfg = parse_config(info[0].As<Napi::Object>());
    state_->backendName = info[1].As<Napi::String>().Utf8Value();
    state_->device = info[2].As<Napi::Number>().Int32Value();
    state_->threads = info[3].As<Napi::Number>().Int32Value();
    state_->cudaLibPath = info[4].As<Napi::String>().Utf8Value();
  }

 private:
  template <typename W>
  Napi::Value queue(W* w) {
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    return queue(new LoadWorker(info.Env(), state_, parse_weights(info[0].As<Napi::Object>())));
  }
  // prove(tokens, offsets, promptLens, rvec, profile, sharePrompts)
  Napi::Value Prove(const Napi::CallbackInfo& info) {
    const Napi::Int32Array r = info[3].As<Napi::Int32Array>();
    std::vector<int32_t> rvec(r.Data(), r.Data() + r.ElementLength());
    ProveOptions options;
    options.profile = info[4].As<Napi::Boolean>().Value();
    options.sharePrompts = info[5].As<Napi::Boolean>().Value();
    return queue(new ProveWorker(info.Env(), state_, parse_batch(info, true), std::move(rvec), options));
  }
  Napi::Value LastLogits(const Napi::CallbackInfo& info) {
    return queue(new FloatsWorker(info.Env(), state_, parse_batch(info, false), FloatsWorker::Kind::LastLogits));
  }
  Napi::Value HiddenStates(const Napi::CallbackInfo& info) {
    return queue(new FloatsWorker(info.Env(), state_, parse_batch(info, false), FloatsWorker::Kind::Hidden));
  }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    std::lock_guard<std::mutex> lock(state_->mu);
    const BackendStats s = state_->backend ? state_->backend->stats() : BackendStats{};
    o.Set("weightBytes", static_cast<double>(s.weightBytes));
    o.Set("weightAllocations", static_cast<double>(s.weightAllocations));
    return o;
  }
  // The last prove()'s per-stage profile as JSON text, or null when it ran unprofiled.
  Napi::Value Profile(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(state_->mu);
    const std::string json = state_->backend ? state_->backend->profileJson() : std::string();
    if (json.empty()) return info.Env().Null();
    return Napi::String::New(info.Env(), json);
  }
  // Frees the backend; callers (the TS layer) only close once no job is queued.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->backend.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<ModelState> state_;
};

}  // namespace
}  // namespace grail

static Napi::Object InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("probeCuda", Napi::Function::New(env, grail::probe_cuda));
  exports.Set("proofMemory", Napi::Function::New(env, grail::proof_memory_of));
  exports.Set("NativeModel", grail::NativeModel::Init(env));
  return exports;
}

NODE_API_MODULE(grail_engine, InitEngine)
