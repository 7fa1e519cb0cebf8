// N-API glue: the Model (mapped weights + transformer), the KvCache (paged K/V store) and the one-call-per-step
// forward, run off the event loop on libuv's worker threads. Every value from JavaScript is checked here.
#include <napi.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "engine_threads.h"
#include "kernels/kernels_napi.h"
#include "kernels/matmul.h"
#include "kv/kv_pool.h"
#include "model/attention.h"
#include "mapped_file.h"
#include "model/ahead_draft.h"
#include "model/greedy_chain.h"
#include "model/transformer.h"

namespace ir {
namespace {

// Holds the engine (engine_mutex) for anything but a speculative step's forward: the ahead-drafting job that the
// last such step left running is stopped first, since it uses the draft model and its KV cache.
struct EngineLock {
  std::lock_guard<std::mutex> lock{engine_mutex()};
  EngineLock() { ahead_draft().stop(); }
};

int get_int(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw std::invalid_argument(std::string("'") + key + "' must be a number");
  return v.As<Napi::Number>().Int32Value();
}

double get_double(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw std::invalid_argument(std::string("'") + key + "' must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// Work off the event loop that settles a promise. A worker thread's environment can be torn down while such work
// still runs (Worker.terminate(), the REPL's :quit right after a stopped :bench): node then completes the work with
// JavaScript off, so settling fails, and node-addon-api would turn that failure into a fatal error for the whole
// process. No one can await the promise then, so the raw calls' status is dropped.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  Napi::Promise promise() const { return Napi::Promise(Env(), promise_); }

 protected:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env) {
    if (napi_create_promise(env, &deferred_, &promise_) != napi_ok) throw std::runtime_error("cannot create a promise");
  }
  void OnOK() override { napi_resolve_deferred(Env(), deferred_, Env().Undefined()); }
  void OnError(const Napi::Error& e) override { napi_reject_deferred(Env(), deferred_, e.Value()); }

 private:
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;  // valid in the scope that made the worker, where promise() is read
};

// ---------------------------------------------------------------------------------------------------------
// The addon's classes (instance data), to tell its objects from look-alikes before unwrapping them.
struct Classes {
  Napi::FunctionReference kv_cache, model;
};

class KvCache : public Napi::ObjectWrap<KvCache> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "KvCache", {
      InstanceMethod("copyBlock", &KvCache::CopyBlock),
      InstanceAccessor("bytes", &KvCache::Bytes, nullptr),
    });
  }

  // A finalized cache may be the one the ahead-drafting job writes.
  ~KvCache() override { ahead_draft().stop(); }

  explicit KvCache(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KvCache>(info) {
    try {
      if (!info[0].IsObject()) throw std::invalid_argument("KvCache options must be an object");
      auto o = info[0].As<Napi::Object>();
      const int n_layer = get_int(o, "nLayer"), n_blocks = get_int(o, "nBlocks");
      const int block_size = get_int(o, "blockSize"), kv_dim = get_int(o, "kvDim");
      const std::string type = o.Get("type").ToString();
      if (n_layer < 1 || n_blocks < 1 || block_size < 1 || kv_dim < 1) throw std::invalid_argument("KvCache sizes must be positive");
      if (double(n_layer) * n_blocks * block_size * kv_dim * 2 * 4 > double(64) * (1ull << 30))
        throw std::invalid_argument("KvCache would exceed 64 GiB");
      if (type != "f16" && type != "f32" && type != "q8_0") throw std::invalid_argument("KvCache type must be f16, f32 or q8_0, got " + type);
      const KvType kv_type = type == "f32" ? KvType::F32 : type == "f16" ? KvType::F16 : KvType::Q8_0;
      // windowLayers (a Uint8Array, one flag per layer) and nWindowBlocks: the flagged layers' blocks of their own.
      std::vector<uint8_t> window_layers;
      int n_window_blocks = 0;
      if (o.Has("windowLayers") && !o.Get("windowLayers").IsUndefined()) {
        Napi::Value v = o.Get("windowLayers");
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
          throw std::invalid_argument("KvCache windowLayers must be a Uint8Array");
        auto flags = v.As<Napi::Uint8Array>();
        window_layers.assign(flags.Data(), flags.Data() + flags.ElementLength());
        n_window_blocks = get_int(o, "nWindowBlocks");
        if (n_window_blocks < 1) throw std::invalid_argument("KvCache nWindowBlocks must be positive");
        if (double(n_layer) * n_window_blocks * block_size * kv_dim * 2 * 4 > double(64) * (1ull << 30))
          throw std::invalid_argument("KvCache would exceed 64 GiB");
      }
      pool_ = std::make_unique<KvPool>(n_layer, n_blocks, block_size, kv_dim, kv_type, window_layers, n_window_blocks);
    } catch (const std::exception& e) {
      Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    }
  }

  KvPool* pool() { return pool_.get(); }

 private:
  // copyBlock(src, dst, window?): window true copies a block of the window layers' blocks.
  Napi::Value CopyBlock(const Napi::CallbackInfo& info) {
    if (!info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(info.Env(), "copyBlock(src, dst, window?) expects block ids").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    const int src = info[0].As<Napi::Number>().Int32Value(), dst = info[1].As<Napi::Number>().Int32Value();
    const int group = info.Length() > 2 && info[2].ToBoolean() ? 1 : 0;
    if (!pool_ || (group == 1 && !pool_->has_window_group()) || src < 0 || dst < 0 || src >= pool_->n_blocks(group) || dst >= pool_->n_blocks(group)) {
      Napi::RangeError::New(info.Env(), "copyBlock: block id out of range").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    EngineLock lock;
    pool_->copy_block(src, dst, group);
    return info.Env().Undefined();
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), pool_ ? double(pool_->bytes()) : 0);
  }

  std::unique_ptr<KvPool> pool_;
};

// ---------------------------------------------------------------------------------------------------------
// Builds the weight views from the tensor table JavaScript sends, checking each against the file's bounds.
class WeightBinder {
 public:
  WeightBinder(const MappedFile& file, Napi::Object tensors) : file_(file), tensors_(tensors) {}

  Matrix matrix(const std::string& name, int64_t cols, int64_t rows) {
    Napi::Object t = lookup(name);
    Matrix m{bytes(t, name), get_int(t, "type"), rows, cols};
    check_shape(t, name, cols, rows);
    if (!kernel_supports(m.type)) throw std::invalid_argument("tensor '" + name + "' has type " + std::to_string(m.type) + ", which this build cannot compute with");
    return m;
  }

  const float* vector(const std::string& name, int64_t n, bool optional = false) {
    if (optional && !tensors_.Has(name)) return nullptr;
    Napi::Object t = lookup(name);
    if (get_int(t, "type") != GGML_F32) throw std::invalid_argument("tensor '" + name + "' must be F32");
    check_shape(t, name, n, 1);
    return reinterpret_cast<const float*>(bytes(t, name));
  }

  bool has(const std::string& name) { return tensors_.Has(name); }

  // Rows [first, first + n) of a matrix: one part of a fused tensor (phi3's attn_qkv, its gate|up ffn_up).
  static Matrix rows_of(const Matrix& m, int64_t first, int64_t n) {
    return Matrix{m.data + size_t(first) * row_bytes(m.type, m.cols), m.type, n, m.cols};
  }

 private:
  Napi::Object lookup(const std::string& name) {
    if (!tensors_.Has(name)) throw std::invalid_argument("missing tensor '" + name + "'");
    return tensors_.Get(name).As<Napi::Object>();
  }

  const uint8_t* bytes(const Napi::Object& t, const std::string& name) {
    const double offset = get_double(t, "offset"), n = get_double(t, "nBytes");
    if (offset < 0 || n < 0 || offset + n > double(file_.size()))
      throw std::invalid_argument("tensor '" + name + "' lies outside the file");
    if (size_t(offset) % 4 != 0) throw std::invalid_argument("tensor '" + name + "' is not 4-byte aligned");
    return file_.data() + size_t(offset);
  }

  void check_shape(const Napi::Object& t, const std::string& name, int64_t cols, int64_t rows) {
    const int type = get_int(t, "type");
    const double n = get_double(t, "nBytes");
    if (get_double(t, "cols") != double(cols) || get_double(t, "rows") != double(rows))
      throw std::invalid_argument("tensor '" + name + "' has shape [" + std::to_string(int64_t(get_double(t, "cols"))) + ", " +
                                  std::to_string(int64_t(get_double(t, "rows"))) + "], expected [" + std::to_string(cols) + ", " +
                                  std::to_string(rows) + "]");
    TypeTraits tt = type_traits(type);
    if (!tt.block_size || cols % tt.block_size != 0) throw std::invalid_argument("tensor '" + name + "' has an unusable type or row length");
    if (double(row_bytes(type, cols)) * double(rows) != n) throw std::invalid_argument("tensor '" + name + "' has the wrong byte size");
  }

  const MappedFile& file_;
  Napi::Object tensors_;
};

// config.family (optional): the gemma2/gemma3, phi3 and granite particulars, FamilyConfig's fields in camelCase.
FamilyConfig read_family(const Napi::Value& v, int n_layer) {
  FamilyConfig f;
  if (!v.IsObject()) return f;
  const Napi::Object o = v.As<Napi::Object>();
  auto num = [&](const char* key, float& out) { if (o.Has(key)) out = float(get_double(o, key)); };
  num("embdScale", f.embd_scale); num("qScale", f.q_scale); num("attnScale", f.attn_scale);
  num("attnSoftcap", f.attn_softcap); num("finalSoftcap", f.final_softcap);
  num("residualScale", f.residual_scale); num("logitScale", f.logit_scale);
  num("ropeBaseSwa", f.rope_base_swa); num("ropeFreqScaleSwa", f.rope_freq_scale_swa);
  num("ropeAttnFactor", f.rope_attn_factor);
  f.gelu = o.Get("gelu").ToBoolean();
  if (o.Has("nSwa")) f.n_swa = get_int(o, "nSwa");
  if (f.n_swa < 0) throw std::invalid_argument("the sliding window must not be negative");
  f.swa_layers.assign(size_t(n_layer), 0);
  if (f.n_swa > 0) {
    if (!o.Get("swaLayers").IsTypedArray() || o.Get("swaLayers").As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw std::invalid_argument("family.swaLayers must be a Uint8Array");
    const Napi::Uint8Array layers = o.Get("swaLayers").As<Napi::Uint8Array>();
    if (layers.ElementLength() != size_t(n_layer)) throw std::invalid_argument("family.swaLayers must have one entry per layer");
    for (int l = 0; l < n_layer; l++) f.swa_layers[size_t(l)] = layers[size_t(l)] != 0;
  }
  return f;
}

ModelConfig read_config(const Napi::Object& c) {
  ModelConfig cfg;
  cfg.n_vocab = get_int(c, "nVocab"); cfg.n_embd = get_int(c, "nEmbd"); cfg.n_layer = get_int(c, "nLayer");
  cfg.n_head = get_int(c, "nHead"); cfg.n_head_kv = get_int(c, "nHeadKv"); cfg.head_dim = get_int(c, "headDim");
  cfg.n_ff = get_int(c, "nFf"); cfg.rope_dim = get_int(c, "ropeDim");
  cfg.rope_neox = c.Get("ropeNeox").ToBoolean();
  cfg.rope_base = float(get_double(c, "ropeBase")); cfg.rope_freq_scale = float(get_double(c, "ropeFreqScale"));
  cfg.rms_eps = float(get_double(c, "rmsEps"));
  cfg.batch_arithmetic = c.Get("batchArithmetic").ToBoolean();
  cfg.family = read_family(c.Get("family"), cfg.n_layer);
  cfg.qk_norm_full = c.Get("qkNormFull").ToBoolean();
  if (c.Has("nExpert") && !c.Get("nExpert").IsUndefined()) {
    cfg.moe.n_expert = get_int(c, "nExpert");
    cfg.moe.n_expert_used = get_int(c, "nExpertUsed");
    cfg.moe.n_ff_exp = get_int(c, "nFfExp");
    cfg.moe.norm_weights = c.Get("expertWeightsNorm").ToBoolean();
    if (c.Has("nFfShared") && !c.Get("nFfShared").IsUndefined()) cfg.moe.n_ff_shared = get_int(c, "nFfShared");
    if (cfg.moe.n_expert < 1 || cfg.moe.n_ff_exp < 1 || cfg.moe.n_expert_used < 1 || cfg.moe.n_expert_used > cfg.moe.n_expert ||
        cfg.moe.n_ff_shared < 0)
      throw std::invalid_argument("expert counts must satisfy 1 <= nExpertUsed <= nExpert and nFfExp >= 1, nFfShared >= 0");
  }
  if (cfg.n_vocab < 1 || cfg.n_embd < 1 || cfg.n_layer < 1 || cfg.n_head < 1 || cfg.n_head_kv < 1 || cfg.head_dim < 1 || cfg.n_ff < 1)
    throw std::invalid_argument("model hyperparameters must be positive");
  if (cfg.n_head % cfg.n_head_kv != 0) throw std::invalid_argument("head count must be a multiple of the KV head count");
  if (cfg.rope_dim < 0 || cfg.rope_dim > cfg.head_dim || cfg.rope_dim % 2) throw std::invalid_argument("bad rope dimension count");
  return cfg;
}

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Model", {InstanceMethod("forward", &Model::Forward), InstanceMethod("setExitHead", &Model::SetExitHead),
                                     InstanceMethod("setDraftHead", &Model::SetDraftHead),
                                     InstanceMethod("shareHeadWith", &Model::ShareHeadWith),
                                     InstanceMethod("useLongRope", &Model::UseLongRope),
                                     InstanceMethod("headEstimateReady", &Model::HeadEstimateReady),
                                     InstanceMethod("ready", &Model::Ready), InstanceMethod("dispose", &Model::Dispose)});
  }

  // A finalized model may be the one the ahead-drafting job runs.
  ~Model() override { ahead_draft().stop(); }

  // new Model({ path, config, tensors: { name: { type, offset, nBytes, cols, rows } } })
  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    try {
      if (!info[0].IsObject()) throw std::invalid_argument("Model spec must be an object");
      auto spec = info[0].As<Napi::Object>();
      file_ = std::make_unique<MappedFile>(spec.Get("path").ToString().Utf8Value());
      const ModelConfig cfg = read_config(spec.Get("config").As<Napi::Object>());
      WeightBinder bind(*file_, spec.Get("tensors").As<Napi::Object>());
      const int d = cfg.n_embd, qd = cfg.n_head * cfg.head_dim, kvd = cfg.n_head_kv * cfg.head_dim;
      ModelWeights w;
      w.token_embd = bind.matrix("token_embd.weight", d, cfg.n_vocab);
      w.output_norm = bind.vector("output_norm.weight", d);
      w.output = bind.has("output.weight") ? bind.matrix("output.weight", d, cfg.n_vocab) : w.token_embd;
      w.rope_freqs = bind.vector("rope_freqs.weight", cfg.rope_dim / 2, true);
      w.rope_factors_long = bind.vector("rope_factors_long.weight", cfg.rope_dim / 2, true);
      w.rope_factors_short = bind.vector("rope_factors_short.weight", cfg.rope_dim / 2, true);
      if (bool(w.rope_factors_long) != bool(w.rope_factors_short)) throw std::invalid_argument("LongRoPE needs both rope_factors_long and rope_factors_short");
      if (w.rope_factors_long && w.rope_freqs) throw std::invalid_argument("a model has rope_freqs or LongRoPE factors, not both");
      if (w.rope_factors_short) w.rope_freqs = w.rope_factors_short;
      for (int l = 0; l < cfg.n_layer; l++) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights L;
        L.attn_norm = bind.vector(p + "attn_norm.weight", d);
        if (bind.has(p + "attn_qkv.weight")) {  // fused: Q, K, V rows one after the other
          const Matrix qkv = bind.matrix(p + "attn_qkv.weight", d, qd + 2 * kvd);
          L.wq = WeightBinder::rows_of(qkv, 0, qd);
          L.wk = WeightBinder::rows_of(qkv, qd, kvd);
          L.wv = WeightBinder::rows_of(qkv, qd + kvd, kvd);
        } else {
          L.wq = bind.matrix(p + "attn_q.weight", d, qd);
          L.wk = bind.matrix(p + "attn_k.weight", d, kvd);
          L.wv = bind.matrix(p + "attn_v.weight", d, kvd);
        }
        L.wo = bind.matrix(p + "attn_output.weight", qd, d);
        L.bq = bind.vector(p + "attn_q.bias", qd, true);
        L.bk = bind.vector(p + "attn_k.bias", kvd, true);
        L.bv = bind.vector(p + "attn_v.bias", kvd, true);
        L.q_norm = bind.vector(p + "attn_q_norm.weight", cfg.qk_norm_full ? qd : cfg.head_dim, true);
        L.k_norm = bind.vector(p + "attn_k_norm.weight", cfg.qk_norm_full ? kvd : cfg.head_dim, true);
        L.ffn_norm = bind.vector(p + "ffn_norm.weight", d);
        if (const MoeConfig& m = cfg.moe; m.n_expert > 0) {
          L.moe.router = bind.matrix(p + "ffn_gate_inp.weight", d, m.n_expert);
          // Merged [n_expert][rows][cols] tensors, bound as one matrix of n_expert * rows rows.
          L.moe.gate = split_experts(bind.matrix(p + "ffn_gate_exps.weight", d, int64_t(m.n_ff_exp) * m.n_expert), m.n_expert);
          L.moe.up = split_experts(bind.matrix(p + "ffn_up_exps.weight", d, int64_t(m.n_ff_exp) * m.n_expert), m.n_expert);
          L.moe.down = split_experts(bind.matrix(p + "ffn_down_exps.weight", m.n_ff_exp, int64_t(d) * m.n_expert), m.n_expert);
          if (m.n_ff_shared > 0) {
            L.moe.shared_gate_inp = bind.matrix(p + "ffn_gate_inp_shexp.weight", d, 1);
            L.moe.shared_gate = bind.matrix(p + "ffn_gate_shexp.weight", d, m.n_ff_shared);
            L.moe.shared_up = bind.matrix(p + "ffn_up_shexp.weight", d, m.n_ff_shared);
            L.moe.shared_down = bind.matrix(p + "ffn_down_shexp.weight", m.n_ff_shared, d);
          }
        } else {
          if (bind.has(p + "ffn_gate.weight")) {
            L.ffn_gate = bind.matrix(p + "ffn_gate.weight", d, cfg.n_ff);
            L.ffn_up = bind.matrix(p + "ffn_up.weight", d, cfg.n_ff);
          } else {  // fused (phi3): the gate's rows, then the up projection's (ggml_swiglu's halves)
            const Matrix gate_up = bind.matrix(p + "ffn_up.weight", d, 2 * int64_t(cfg.n_ff));
            L.ffn_gate = WeightBinder::rows_of(gate_up, 0, cfg.n_ff);
            L.ffn_up = WeightBinder::rows_of(gate_up, cfg.n_ff, cfg.n_ff);
          }
          L.ffn_down = bind.matrix(p + "ffn_down.weight", cfg.n_ff, d);
        }
        L.attn_post_norm = bind.vector(p + "post_attention_norm.weight", d, true);
        L.ffn_post_norm = bind.vector(p + "post_ffw_norm.weight", d, true);
        w.layers.push_back(L);
      }
      w.file_mapped = true;
      const Napi::Value estimate = spec.Get("headEstimate");
      const bool background = !estimate.IsString() || estimate.ToString().Utf8Value() != "on-demand";
      if (spec.Get("packAsync").ToBoolean()) {
        auto* worker = new BuildWorker(info.This().As<Napi::Object>(), this, cfg, std::move(w), background);
        ready_ = Napi::Persistent(worker->promise().As<Napi::Object>());
        worker->Queue();
        return;
      }
      EngineLock lock;  // packing runs on the engine pool
      net_ = std::make_unique<Transformer>(cfg, std::move(w), engine_pool(), background);
    } catch (const std::exception& e) {
      Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    }
  }

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);

  // model.setExitHead(tokenIds: Int32Array): the head rows the early-exit confidence test uses (empty = all).
  Napi::Value SetExitHead(const Napi::CallbackInfo& info) {
    return set_head_rows(info, "setExitHead", [](Transformer& net, const std::vector<int32_t>& rows) { net.set_exit_head(rows, engine_pool()); });
  }

  // model.setDraftHead(tokenIds: Int32Array): the head rows of batches with draftHead set (empty = none).
  Napi::Value SetDraftHead(const Napi::CallbackInfo& info) {
    return set_head_rows(info, "setDraftHead", [](Transformer& net, const std::vector<int32_t>& rows) { net.set_draft_head(rows, engine_pool()); });
  }

  // draft.shareHeadWith(target: Model): boolean — Transformer::share_head_with; the draft then keeps the target alive.
  Napi::Value ShareHeadWith(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(env.GetInstanceData<Classes>()->model.Value())) {
      Napi::TypeError::New(env, "shareHeadWith(target) expects a Model").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Model* target = Model::Unwrap(info[0].As<Napi::Object>());
    if (!net_ || !target->net_ || target == this) return Napi::Boolean::New(env, false);
    EngineLock lock;
    if (!net_->share_head_with(*target->net_, engine_pool())) return Napi::Boolean::New(env, false);
    head_owner_ = Napi::Persistent(info[0].As<Napi::Object>());
    return Napi::Boolean::New(env, true);
  }

  // model.ready(): Promise<void> — settles when a model made with packAsync is built (at once for the others).
  Napi::Value Ready(const Napi::CallbackInfo& info) {
    if (!ready_.IsEmpty()) return ready_.Value();
    auto done = Napi::Promise::Deferred::New(info.Env());
    done.Resolve(info.Env().Undefined());
    return done.Promise();
  }

  // model.dispose(): frees the Transformer (its background work stopped) and unmaps the file.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    EngineLock lock;
    net_.reset();
    file_.reset();
    return info.Env().Undefined();
  }

  // model.headEstimateReady(): boolean — whether greedy steps estimate the head through its Q8_0 copy now.
  Napi::Value HeadEstimateReady(const Napi::CallbackInfo& info) {
    EngineLock lock;
    return Napi::Boolean::New(info.Env(), net_ && net_->head_estimate_ready());
  }

  // model.useLongRope(long: boolean): LongRoPE's long factors (contexts past the original length) or short ones.
  Napi::Value UseLongRope(const Napi::CallbackInfo& info) {
    if (net_) {
      EngineLock lock;
      net_->use_long_rope(info[0].ToBoolean());
    }
    return info.Env().Undefined();
  }

  template <typename Apply>
  Napi::Value set_head_rows(const Napi::CallbackInfo& info, const char* name, Apply apply) {
    Napi::Env env = info.Env();
    if (!net_ || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      Napi::TypeError::New(env, std::string(name) + "(tokenIds) expects an Int32Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto ids = info[0].As<Napi::Int32Array>();
    std::vector<int32_t> rows(ids.Data(), ids.Data() + ids.ElementLength());
    for (int32_t t : rows)
      if (t < 0 || t >= net_->config().n_vocab) {
        Napi::RangeError::New(env, std::string(name) + ": token id " + std::to_string(t) + " is outside the vocabulary").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    EngineLock lock;
    apply(*net_, rows);
    return env.Undefined();
  }

  // Builds the Transformer (packing the weights) on a worker thread, so that the JavaScript side can go on loading
  // (the tokenizer) meanwhile; the model's methods are for after ready() settles.
  class BuildWorker : public PromiseWorker {
   public:
    BuildWorker(const Napi::Object& model_obj, Model* model, const ModelConfig& cfg, ModelWeights w, bool background)
        : PromiseWorker(model_obj.Env()), model_obj_(Napi::Persistent(model_obj)), model_(model), cfg_(cfg), w_(std::move(w)),
          background_(background) {}

   protected:
    void Execute() override {
      try {
        EngineLock lock;  // packing runs on the engine pool
        net_ = std::make_unique<Transformer>(cfg_, std::move(w_), engine_pool(), background_);
      } catch (const std::exception& e) {
        SetError(e.what());
      }
    }
    void OnOK() override {
      model_->net_ = std::move(net_);
      PromiseWorker::OnOK();
    }

   private:
    Napi::ObjectReference model_obj_;  // keeps model_ alive until the build is done
    Model* model_;
    ModelConfig cfg_;
    ModelWeights w_;
    bool background_;
    std::unique_ptr<Transformer> net_;
  };

  std::unique_ptr<MappedFile> file_;
  std::unique_ptr<Transformer> net_;
  Napi::ObjectReference ready_;       // packAsync: the build's promise
  Napi::ObjectReference head_owner_;  // the model whose head copy net_ reads (shareHeadWith)
  friend class StepRequest;
  friend class ForwardWorker;
};

// Whether the batch sets an optional field (present and not undefined).
bool has(const Napi::Object& o, const char* key) { return o.Has(key) && !o.Get(key).IsUndefined(); }

template <typename T>
T typed(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray()) throw std::invalid_argument(std::string("batch.") + key + " must be a typed array");
  auto ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_int32_array && ta.TypedArrayType() != napi_float32_array && ta.TypedArrayType() != napi_uint8_array)
    throw std::invalid_argument(std::string("batch.") + key + " has the wrong element type");
  return v.As<T>();
}

// One forward's batch, read and checked on the main thread: the arrays stay alive through the references while the
// forward runs off the event loop.
class StepRequest {
 public:
  StepRequest(Model* model, KvCache* kv, Napi::Object model_obj, Napi::Object kv_obj, Napi::Object batch) : model_(model), kv_(kv) {
    model_ref_ = Napi::Persistent(model_obj);
    kv_ref_ = Napi::Persistent(kv_obj);
    batch_ref_ = Napi::Persistent(batch);
    auto tokens = typed<Napi::Int32Array>(batch, "tokens");
    auto positions = typed<Napi::Int32Array>(batch, "positions");
    auto seq_ids = typed<Napi::Int32Array>(batch, "seqIds");
    auto tables = typed<Napi::Int32Array>(batch, "blockTables");
    auto offsets = typed<Napi::Int32Array>(batch, "tableOffsets");
    auto rows = typed<Napi::Int32Array>(batch, "logitRows");
    auto logits = typed<Napi::Float32Array>(batch, "logits");
    const ModelConfig& cfg = model->net_->config();
    if (tokens.ElementLength() != positions.ElementLength() || tokens.ElementLength() != seq_ids.ElementLength())
      throw std::invalid_argument("batch.tokens, positions and seqIds must have the same length");
    if (offsets.ElementLength() < 1) throw std::invalid_argument("batch.tableOffsets must have n_seqs + 1 entries");
    b_.n_tokens = int(tokens.ElementLength());
    tokens_ = tokens.Data();
    b_.tokens = tokens.Data(); b_.positions = positions.Data(); b_.seq_ids = seq_ids.Data();
    b_.n_seqs = int(offsets.ElementLength()) - 1;
    b_.block_tables = tables.Data(); b_.table_offsets = offsets.Data();
    if (b_.n_seqs > 0 && size_t(offsets.Data()[b_.n_seqs]) > tables.ElementLength())
      throw std::invalid_argument("batch.tableOffsets points past batch.blockTables");
    if (has(batch, "windowBlockTables")) {
      auto wt = typed<Napi::Int32Array>(batch, "windowBlockTables");
      auto wo = typed<Napi::Int32Array>(batch, "windowTableOffsets");
      if (wo.ElementLength() != offsets.ElementLength()) throw std::invalid_argument("batch.windowTableOffsets must have n_seqs + 1 entries");
      if (b_.n_seqs > 0 && size_t(wo.Data()[b_.n_seqs]) > wt.ElementLength())
        throw std::invalid_argument("batch.windowTableOffsets points past batch.windowBlockTables");
      b_.window_block_tables = wt.Data(); b_.window_table_offsets = wo.Data();
    }
    b_.n_logit_rows = int(rows.ElementLength()); b_.logit_rows = rows.Data();
    // Steps that give each row's argmax (batch.argmax, greedy drafting) write no logits.
    const bool writes_logits = !has(batch, "argmax") && !has(batch, "greedySteps");
    if (writes_logits && logits.ElementLength() < size_t(b_.n_logit_rows) * size_t(cfg.n_vocab))
      throw std::invalid_argument("batch.logits is too small for the requested rows");
    b_.logits = logits.Data();
    if (batch.Has("nLayers") && !batch.Get("nLayers").IsUndefined()) b_.n_layers = get_int(batch, "nLayers");
    b_.draft_head = batch.Has("draftHead") && batch.Get("draftHead").ToBoolean();
    if (has(batch, "threads")) {
      threads_ = get_int(batch, "threads");
      if (threads_ < 1) throw std::invalid_argument("batch.threads must be at least 1");
    }
    if (batch.Has("exitLayers") && !batch.Get("exitLayers").IsUndefined()) {
      auto layers = typed<Napi::Int32Array>(batch, "exitLayers");
      auto thresholds = typed<Napi::Float32Array>(batch, "exitThresholds");
      auto used = typed<Napi::Int32Array>(batch, "exitLayersUsed");
      if (thresholds.ElementLength() != layers.ElementLength()) throw std::invalid_argument("batch.exitThresholds must match batch.exitLayers");
      if (used.ElementLength() < size_t(b_.n_logit_rows)) throw std::invalid_argument("batch.exitLayersUsed is too small for the requested rows");
      b_.exit = ExitPlan{int(layers.ElementLength()), layers.Data(), thresholds.Data(), used.Data()};
    }
    if (has(batch, "argmax")) {
      auto argmax = typed<Napi::Int32Array>(batch, "argmax");
      if (argmax.ElementLength() < size_t(b_.n_logit_rows)) throw std::invalid_argument("batch.argmax is too small for the requested rows");
      if (b_.exit.n > 0 || b_.draft_head || batch.Has("greedySteps"))
        throw std::invalid_argument("batch.argmax cannot be combined with early exit, the draft head or greedy drafting");
      b_.argmax = argmax.Data();
    }
    if (has(batch, "rowArithmetic")) {
      auto flags = typed<Napi::Uint8Array>(batch, "rowArithmetic");
      if (flags.TypedArrayType() != napi_uint8_array || flags.ElementLength() != size_t(b_.n_tokens))
        throw std::invalid_argument("batch.rowArithmetic must be a Uint8Array with one entry per token");
      b_.row_arithmetic = flags.Data();
    }
    std::string problem = model->net_->validate(b_, *kv->pool());
    if (!problem.empty()) throw std::invalid_argument(problem);
    if (has(batch, "greedySteps")) {
      auto steps = typed<Napi::Int32Array>(batch, "greedySteps");
      auto out = typed<Napi::Int32Array>(batch, "greedyTokens");
      if (steps.ElementLength() != size_t(b_.n_seqs)) throw std::invalid_argument("batch.greedySteps needs one entry per sequence");
      int k_max = 0;
      for (size_t s = 0; s < steps.ElementLength(); s++) k_max = std::max(k_max, steps.Data()[s]);
      if (out.ElementLength() < size_t(b_.n_seqs) * size_t(std::max(k_max, 0))) throw std::invalid_argument("batch.greedyTokens is too small for the drafts");
      chain_ = GreedyChain{steps.Data(), k_max, out.Data()};
      problem = validate_greedy_chain(b_, chain_);
      if (!problem.empty()) throw std::invalid_argument(problem);
      has_chain_ = true;
    }
  }

  // Runs the forward (or the greedy chain) on its pool; "" or what went wrong.
  std::string run() {
    ThreadPool& pool = threads_ > 0 ? engine_pool(threads_) : engine_pool();
    std::string problem;
    if (has_chain_) problem = run_greedy_chain(*model_->net_, pool, *kv_->pool(), b_, chain_);
    else model_->net_->forward(pool, *kv_->pool(), b_);
    pool.rest();
    return problem;
  }

  const ModelConfig& config() const { return model_->net_->config(); }
  const StepBatch& batch() const { return b_; }
  const GreedyChain* chain() const { return has_chain_ ? &chain_ : nullptr; }
  Transformer& net() { return *model_->net_; }
  KvPool& kv() { return *kv_->pool(); }
  // The batch's tokens, writable: a speculative step writes the drafted tokens into the verifying batch.
  int32_t* tokens() { return tokens_; }

 private:
  Model* model_;
  KvCache* kv_;
  Napi::ObjectReference model_ref_, kv_ref_, batch_ref_;
  StepBatch b_;
  int32_t* tokens_ = nullptr;
  GreedyChain chain_;
  bool has_chain_ = false;
  int threads_ = 0;  // batch.threads: 0 = the engine pool
};

// One forward off the event loop. With batch.draft it is a whole speculative step: the draft model's greedy chain,
// its drafted tokens copied into the target's batch (sequence s's k[s] tokens from tokenOffsets[s]), then the
// target's forward over them, so drafting and verifying take one trip off the event loop and no JavaScript runs
// between them.
class ForwardWorker : public PromiseWorker {
 public:
  ForwardWorker(Napi::Env env, Model* model, KvCache* kv, Napi::Object model_obj, Napi::Object kv_obj, Napi::Object batch)
      : PromiseWorker(env), step_(model, kv, model_obj, kv_obj, batch) {
    if (!has(batch, "draft")) return;
    if (!batch.Get("draft").IsObject()) throw std::invalid_argument("batch.draft must be an object");
    auto d = batch.Get("draft").As<Napi::Object>();
    const Classes* classes = env.GetInstanceData<Classes>();
    if (!d.Get("model").IsObject() || !d.Get("model").As<Napi::Object>().InstanceOf(classes->model.Value()))
      throw std::invalid_argument("batch.draft.model is not a Model");
    if (!d.Get("kv").IsObject() || !d.Get("kv").As<Napi::Object>().InstanceOf(classes->kv_cache.Value()))
      throw std::invalid_argument("batch.draft.kv is not a KvCache");
    if (!d.Get("batch").IsObject()) throw std::invalid_argument("batch.draft.batch must be an object");
    auto draft_model_obj = d.Get("model").As<Napi::Object>(), draft_kv_obj = d.Get("kv").As<Napi::Object>();
    Model* draft_model = Model::Unwrap(draft_model_obj);
    KvCache* draft_kv = KvCache::Unwrap(draft_kv_obj);
    if (!draft_model->net_ || !draft_kv->pool()) throw std::invalid_argument("batch.draft: the draft model or its KvCache failed to load");
    draft_ = std::make_unique<StepRequest>(draft_model, draft_kv, draft_model_obj, draft_kv_obj, d.Get("batch").As<Napi::Object>());
    const GreedyChain* chain = draft_->chain();
    if (!chain) throw std::invalid_argument("batch.draft.batch must draft greedily (greedySteps)");
    if (draft_->config().n_vocab != step_.config().n_vocab) throw std::invalid_argument("batch.draft: the draft model's vocabulary is not the target's");
    auto offsets = typed<Napi::Int32Array>(d, "tokenOffsets");
    offsets_ref_ = Napi::Persistent(offsets.As<Napi::Object>());
    if (offsets.ElementLength() != size_t(draft_->batch().n_seqs)) throw std::invalid_argument("batch.draft.tokenOffsets needs one entry per drafting sequence");
    token_offsets_ = offsets.Data();
    if (has(d, "nextSteps")) {
      auto next = typed<Napi::Int32Array>(d, "nextSteps");
      if (draft_->batch().n_seqs != 1 || next.ElementLength() != size_t(chain->k[0]) + 1 || !step_.batch().argmax)
        throw std::invalid_argument("batch.draft.nextSteps needs one drafting sequence, k + 1 entries and a verify by argmax");
      ahead_k_.assign(next.Data(), next.Data() + next.ElementLength());
      for (int32_t k : ahead_k_)
        if (k < 0 || k > 64) throw std::invalid_argument("batch.draft.nextSteps entries must be from 0 to 64");
    }
    for (int s = 0; s < draft_->batch().n_seqs; s++)
      if (token_offsets_[s] < 0 || token_offsets_[s] + chain->k[s] > step_.batch().n_tokens)
        throw std::invalid_argument("batch.draft.tokenOffsets puts drafted tokens outside the batch");
  }


 protected:
  void Execute() override {
    std::lock_guard<std::mutex> lock(engine_mutex());
    AheadDraft& ahead = ahead_draft();
    if (!draft_) {
      ahead.stop();
    } else {
      const GreedyChain& chain = *draft_->chain();
      // The chain may already have been drafted, by the job the previous step started (AheadDraft).
      if (!ahead.take(draft_->net(), draft_->kv(), draft_->batch(), chain)) {
        const std::string problem = draft_->run();
        if (!problem.empty()) return SetError(problem);
      }
      for (int s = 0; s < draft_->batch().n_seqs; s++)
        std::copy_n(chain.out + size_t(s) * size_t(chain.k_max), chain.k[s], step_.tokens() + token_offsets_[s]);
    }
    const std::string problem = step_.run();
    if (!problem.empty()) return SetError(problem);
    if (!ahead_k_.empty()) start_next_chain();
  }

 private:
  StepRequest step_;
  std::unique_ptr<StepRequest> draft_;
  Napi::ObjectReference offsets_ref_;
  const int32_t* token_offsets_ = nullptr;
  // batch.draft.nextSteps: for a lone drafting sequence, the next step's draft length after a accepted drafts
  // (entry a, 0 = no next step), to draft that chain ahead (AheadDraft).
  std::vector<int32_t> ahead_k_;

  // The verify's argmax says what the next step's chain feeds: the drafts up to the first the target refuses stand,
  // the target's token follows them (after all k: the last draft, which the chain did not feed, and the target's
  // next token). Started only when that next step drafts (nextSteps) and every token is one greedy decoding emits.
  void start_next_chain() {
    const StepBatch& b = draft_->batch();
    const StepBatch& verify = step_.batch();
    const GreedyChain& chain = *draft_->chain();
    const int k = chain.k[0], first_row_token = token_offsets_[0] - 1;
    if (k < 1 || first_row_token < 0 || b.row_arithmetic || b.window_block_tables) return;
    // The verify's argmax of the rows after the last token and after each draft.
    std::vector<int32_t> best(size_t(k) + 1, -1);
    for (int r = 0; r < verify.n_logit_rows; r++) {
      const int i = verify.logit_rows[r] - first_row_token;
      if (i >= 0 && i <= k) best[size_t(i)] = verify.argmax[r];
    }
    const int32_t* drafts = chain.out;
    int a = 0;
    while (a < k && best[size_t(a)] == drafts[a]) a++;
    const int32_t target = best[size_t(a)];
    const int next_k = ahead_k_[size_t(a)];
    if (target < 0 || next_k < 1) return;  // no token to emit (the step fails in JavaScript) or no next draft
    // The chain fed the step's tokens, then drafts 1..k-1 at the positions after them.
    const int last = b.positions[b.n_tokens - 1];
    std::vector<int32_t> tokens;
    if (a == k) tokens = {drafts[k - 1], target};
    else tokens = {target};
    ahead_draft().start(draft_->net(), draft_->kv(), b, std::move(tokens), last + 1 + std::min(a, k - 1), next_k);
  }
};

// model.forward(kvCache, batch): Promise<void>. Logits land in batch.logits.
Napi::Value Model::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (!net_) throw std::invalid_argument("the model failed to load");
    if (!info[0].IsObject() || !info[1].IsObject()) throw std::invalid_argument("forward(kvCache, batch) expects two objects");
    auto kv_obj = info[0].As<Napi::Object>();
    if (!kv_obj.InstanceOf(env.GetInstanceData<Classes>()->kv_cache.Value()))
      throw std::invalid_argument("forward: the first argument is not a KvCache");
    KvCache* kv = KvCache::Unwrap(kv_obj);
    if (!kv->pool()) throw std::invalid_argument("the KvCache failed to initialize");
    auto* w = new ForwardWorker(env, this, kv, info.This().As<Napi::Object>(), kv_obj, info[1].As<Napi::Object>());
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  } catch (const std::exception& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(Napi::Error::New(env, e.what()).Value());
    return d.Promise();
  }
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "setThreads(n) expects a number").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1 || n > 512) {
    Napi::RangeError::New(info.Env(), "thread count must be between 1 and 512").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  set_engine_threads(n);
  return info.Env().Undefined();
}

// aheadDraftStats(): { hits, misses } — speculative steps whose chain the ahead-drafting job had drafted / had not,
// since the process started.
Napi::Value AheadDraftStats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("hits", Napi::Number::New(info.Env(), double(ahead_draft().hits())));
  o.Set("misses", Napi::Number::New(info.Env(), double(ahead_draft().misses())));
  return o;
}

// batchExpfMismatches(firstBits, count) -> { mismatches, firstMismatchBits }: ggml_v_expf's vector path against its
// one-lane reference (batch_expf_mismatches), for the test.
Napi::Value BatchExpfMismatches(const Napi::CallbackInfo& info) {
  const double first = info[0].As<Napi::Number>().DoubleValue(), count = info[1].As<Napi::Number>().DoubleValue();
  if (!(first >= 0 && count >= 0 && first + count <= 4294967296.0)) {
    Napi::RangeError::New(info.Env(), "batchExpfMismatches: the range must lie within the 2^32 float bit patterns").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const ExpfLaneCheck r = batch_expf_mismatches(uint32_t(first), uint32_t(count));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("mismatches", Napi::Number::New(info.Env(), double(r.mismatches)));
  o.Set("firstMismatchBits", Napi::Number::New(info.Env(), double(r.first_mismatch)));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function kv = KvCache::Define(env), model = Model::Define(env);
  env.SetInstanceData(new Classes{Napi::Persistent(kv), Napi::Persistent(model)});
  exports.Set("KvCache", kv);
  exports.Set("Model", model);
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("aheadDraftStats", Napi::Function::New(env, AheadDraftStats));
  exports.Set("batchExpfMismatches", Napi::Function::New(env, BatchExpfMismatches));
  register_kernel_api(env, exports);
  return exports;
}

}  // namespace
}  // namespace ir

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ir::Init(env, exports); }
NODE_API_MODULE(infer_native, InitAddon)
