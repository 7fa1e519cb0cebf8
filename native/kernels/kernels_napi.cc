#include "kernels_napi.h"

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../engine_threads.h"
#include "cpu_features.h"
#include "expf_libm.h"
#include "matmul.h"
#include "pack.h"
#include "quants.h"

namespace ir {
namespace {

// A non-negative integer argument no larger than max.
int64_t arg_count(const Napi::CallbackInfo& info, size_t i, const char* name, double max) {
  if (!info[i].IsNumber()) throw std::invalid_argument(std::string(name) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= max) || v != double(int64_t(v)))
    throw std::invalid_argument(std::string(name) + " must be an integer from 0 to " + std::to_string(int64_t(max)));
  return int64_t(v);
}

int arg_int(const Napi::CallbackInfo& info, size_t i, const char* name) { return int(arg_count(info, i, name, 2147483647.0)); }

Napi::Float32Array arg_f32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw std::invalid_argument(std::string(name) + " must be a Float32Array");
  return info[i].As<Napi::Float32Array>();
}

Napi::Uint8Array arg_u8(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw std::invalid_argument(std::string(name) + " must be a Uint8Array");
  return info[i].As<Napi::Uint8Array>();
}

void check_row_length(int type, int64_t n) {
  const int bs = type_traits(type).block_size;
  if (!bs) throw std::invalid_argument("unknown GGML type " + std::to_string(type));
  if (n % bs) throw std::invalid_argument("row length " + std::to_string(n) + " is not a multiple of the type's block size " + std::to_string(bs));
}

// Runs fn, turning C++ exceptions into JS errors (the addon is built without C++ exceptions crossing N-API).
template <typename Fn>
Napi::Value guarded(const Napi::CallbackInfo& info, Fn fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

Variant parse_variant(const Napi::Value& v) {
  if (v.IsUndefined()) return auto_variant();
  if (!v.IsString()) throw std::invalid_argument("variant must be \"scalar\", \"avx2\", \"avx512\", \"amx\" or \"auto\"");
  const std::string s = v.As<Napi::String>();
  Variant out;
  if (s == "auto") return auto_variant();
  if (s == "scalar") out = Variant::Scalar;
  else if (s == "avx2") out = Variant::Avx2;
  else if (s == "avx512") out = Variant::Avx512;
  else if (s == "amx") out = Variant::Amx;
  else throw std::invalid_argument("unknown kernel variant '" + s + "'");
  if (!variant_available(out)) throw std::invalid_argument("kernel variant '" + s + "' is not available on this CPU");
  return out;
}

// An optional packed copy (from kernels.pack) of a rows × cols matrix: nullptr when absent.
const uint8_t* arg_packed(const Napi::Value& v, int type, int rows, int cols) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw std::invalid_argument("packed must be a Uint8Array from kernels.pack");
  if (!packable(type)) throw std::invalid_argument("type " + std::to_string(type) + " has no packed form");
  auto p = v.As<Napi::Uint8Array>();
  if (p.ByteLength() != packed_bytes(type, rows, cols)) throw std::invalid_argument("packed does not match the matrix's type and shape");
  return p.Data();
}

// pack(type, weights, rows, cols) -> Uint8Array | null: the row-interleaved copy the model makes at load (pack.h),
// or null for types without a packed form.
Napi::Value Pack(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int type = arg_int(info, 0, "type");
    auto w = arg_u8(info, 1, "weights");
    const int rows = arg_int(info, 2, "rows"), cols = arg_int(info, 3, "cols");
    if (!packable(type)) return info.Env().Null();
    check_row_length(type, cols);
    if (w.ByteLength() != row_bytes(type, cols) * size_t(rows)) throw std::invalid_argument("pack: weights must be rows * row bytes long");
    auto out = Napi::Uint8Array::New(info.Env(), packed_bytes(type, rows, cols));
    pack_matrix(type, w.Data(), rows, cols, out.Data());
    return out;
  });
}

// unpackRow(type, packed, rows, cols, r) -> Uint8Array: row r of the original matrix rebuilt from its packed copy
// (unpack_row), for a type whose packed copy holds its rows completely and r inside the packed groups.
Napi::Value UnpackRow(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int type = arg_int(info, 0, "type");
    auto p = arg_u8(info, 1, "packed");
    const int rows = arg_int(info, 2, "rows"), cols = arg_int(info, 3, "cols"), r = arg_int(info, 4, "r");
    if (!packed_rows_complete(type)) throw std::invalid_argument("unpackRow: this type's packed copy does not hold its rows completely");
    check_row_length(type, cols);
    if (p.ByteLength() != packed_bytes(type, rows, cols)) throw std::invalid_argument("unpackRow: packed must be pack()'s output for rows x cols");
    if (r < 0 || r >= rows / kPackRows * kPackRows) throw std::invalid_argument("unpackRow: r must lie in the packed groups");
    auto out = Napi::Uint8Array::New(info.Env(), row_bytes(type, cols));
    unpack_row(type, p.Data(), cols, r, out.Data());
    return out;
  });
}

Napi::Value QuantizeRow(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int type = arg_int(info, 0, "type");
    auto x = arg_f32(info, 1, "x");
    if (!can_quantize(type)) throw std::invalid_argument("quantizeRow: type " + std::to_string(type) + " has no reference quantizer");
    check_row_length(type, int64_t(x.ElementLength()));
    auto out = Napi::Uint8Array::New(info.Env(), row_bytes(type, int64_t(x.ElementLength())));
    quantize_row_ref(type, x.Data(), out.Data(), int64_t(x.ElementLength()));
    return out;
  });
}

Napi::Value QuantizeActivations(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int wtype = arg_int(info, 0, "weightType");
    auto x = arg_f32(info, 1, "x");
    const int atype = vec_dot_type(wtype);
    const Variant variant = parse_variant(info[2]);
    const int64_t n = int64_t(x.ElementLength());
    check_row_length(atype, n);
    auto out = Napi::Uint8Array::New(info.Env(), row_bytes(atype, n));
    const bool simd = vector_variant(variant) == Variant::Avx512 ? avx512::quantize_activations(atype, x.Data(), n, out.Data())
                    : variant == Variant::Avx2   ? avx2::quantize_activations(atype, x.Data(), n, out.Data())
                                                 : false;
    if (!simd) quantize_activation_row(atype, x.Data(), out.Data(), n);
    return out;
  });
}

Napi::Value DequantizeRow(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int type = arg_int(info, 0, "type");
    auto src = arg_u8(info, 1, "data");
    const int n = arg_int(info, 2, "n");
    check_row_length(type, n);
    if (src.ByteLength() < row_bytes(type, n)) throw std::invalid_argument("dequantizeRow: data is shorter than n elements of this type");
    auto out = Napi::Float32Array::New(info.Env(), size_t(n));
    if (!dequantize_row_any(type, src.Data(), out.Data(), n)) throw std::invalid_argument("dequantizeRow: unsupported type " + std::to_string(type));
    return out;
  });
}


// The arguments matmul and matmulArgmax share: (type, weights, rows, cols, x, nAct), checked against each other.
struct MatmulArgs {
  int type, rows, cols, n_act;
  Napi::Uint8Array weights;
  Napi::Float32Array x;
};

MatmulArgs matmul_args(const Napi::CallbackInfo& info, const std::string& name) {
  MatmulArgs a{arg_int(info, 0, "type"), 0, 0, 0, arg_u8(info, 1, "weights"), {}};
  a.rows = arg_int(info, 2, "rows");
  a.cols = arg_int(info, 3, "cols");
  a.x = arg_f32(info, 4, "x");
  a.n_act = arg_int(info, 5, "nAct");
  if (!kernel_supports(a.type)) throw std::invalid_argument(name + ": unsupported weight type " + std::to_string(a.type));
  check_row_length(a.type, a.cols);
  if (a.rows < 1 || a.cols < 1 || a.n_act < 1) throw std::invalid_argument(name + ": rows, cols and nAct must be positive");
  if (a.weights.ByteLength() != row_bytes(a.type, a.cols) * size_t(a.rows)) throw std::invalid_argument(name + ": weights must be rows * row bytes long");
  if (a.x.ElementLength() != size_t(a.n_act) * size_t(a.cols)) throw std::invalid_argument(name + ": x must hold nAct * cols floats");
  return a;
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const MatmulArgs a = matmul_args(info, "matmul");
    const Variant variant = parse_variant(info[6]);
    const uint8_t* packed = arg_packed(info[7], a.type, a.rows, a.cols);
    auto y = Napi::Float32Array::New(info.Env(), size_t(a.n_act) * size_t(a.rows));
    std::lock_guard<std::mutex> lock(engine_mutex());
    Matrix w{a.weights.Data(), a.type, a.rows, a.cols, packed};
    // gemmOrder: one Q4_K order for every row (a boolean), or order bits per activation row (a Uint8Array of
    // kOrder* bits), as a step mixes them (matmul_group's gemm_rows).
    const uint8_t* gemm_rows = nullptr;
    if (info.Length() > 8 && info[8].IsTypedArray()) {
      const auto orders = arg_u8(info, 8, "gemmOrder");
      if (orders.ElementLength() != size_t(a.n_act)) throw std::invalid_argument("matmul: gemmOrder must hold one entry per activation row (nAct)");
      gemm_rows = orders.Data();
    } else {
      w.gemm_order = info.Length() > 8 && info[8].ToBoolean();
    }
    const Matrix* ws[1] = {&w};
    float* ys[1] = {y.Data()};
    matmul_group(engine_pool(), ws, ys, 1, a.x.Data(), a.n_act, variant, gemm_rows);
    return y;
  });
}

// matmulArgmax(type, weights, rows, cols, x, nAct, packed?) -> Int32Array: per activation row, the index of the
// largest output (matmul_argmax).
Napi::Value MatmulArgmax(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const MatmulArgs a = matmul_args(info, "matmulArgmax");
    Matrix w{a.weights.Data(), a.type, a.rows, a.cols, arg_packed(info[6], a.type, a.rows, a.cols)};
    if (a.type == GGML_Q8_0) w.max_abs_scale = q8_0_max_abs_scale(w.data, a.rows, a.cols);
    auto out = Napi::Int32Array::New(info.Env(), size_t(a.n_act));
    std::lock_guard<std::mutex> lock(engine_mutex());
    PackedWeights shadow;  // a float matrix: the Q8_0 estimate copy the model makes for its head
    shadow.attach_argmax_shadow(w, engine_pool());
    matmul_argmax(engine_pool(), w, a.x.Data(), a.n_act, out.Data());
    return out;
  });
}

// argmaxShadow(type, weights, rows, cols) -> {packed, maxAbsScale, maxNorm, maxCopyNorm, maxErrorNorm} | null: the Q8_0
// estimate copy a model makes of a float head (PackedWeights::attach_argmax_shadow); null where it makes none.
Napi::Value ArgmaxShadowJs(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int type = arg_int(info, 0, "type");
    auto w = arg_u8(info, 1, "weights");
    const int rows = arg_int(info, 2, "rows"), cols = arg_int(info, 3, "cols");
    check_row_length(type, cols);
    if (w.ByteLength() != row_bytes(type, cols) * size_t(rows)) throw std::invalid_argument("argmaxShadow: weights must be rows * row bytes long");
    Matrix m{w.Data(), type, rows, cols};
    std::lock_guard<std::mutex> lock(engine_mutex());
    PackedWeights copies;
    copies.attach_argmax_shadow(m, engine_pool());
    if (!m.shadow) return info.Env().Null();
    const size_t n = packed_bytes(GGML_Q8_0, rows, cols);
    auto o = Napi::Object::New(info.Env());
    o.Set("packed", Napi::Uint8Array::New(info.Env(), n));
    std::memcpy(o.Get("packed").As<Napi::Uint8Array>().Data(), m.shadow->packed, n);
    o.Set("maxAbsScale", m.shadow->max_abs_scale);
    o.Set("maxNorm", m.shadow->max_norm);
    o.Set("maxCopyNorm", m.shadow->max_copy_norm);
    o.Set("maxErrorNorm", m.shadow->max_error_norm);
    return o;
  });
}

// matmulGroup([{type, weights, rows, packed?}, ...], cols, x, nAct, variant?) -> Float32Array[]: matrices sharing one input.
Napi::Value MatmulGroup(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (!info[0].IsArray()) throw std::invalid_argument("matmulGroup: first argument must be an array of {type, weights, rows}");
    auto list = info[0].As<Napi::Array>();
    const int cols = arg_int(info, 1, "cols");
    auto x = arg_f32(info, 2, "x");
    const int n_act = arg_int(info, 3, "nAct");
    const Variant variant = parse_variant(info[4]);
    if (cols < 1 || n_act < 1 || x.ElementLength() != size_t(n_act) * size_t(cols)) throw std::invalid_argument("matmulGroup: x must hold nAct * cols floats");
    std::vector<Matrix> ms;
    std::vector<Napi::Float32Array> outs;
    for (uint32_t i = 0; i < list.Length(); i++) {
      if (!list.Get(i).IsObject()) throw std::invalid_argument("matmulGroup: entries must be objects");
      auto o = list.Get(i).As<Napi::Object>();
      const Napi::Value tv = o.Get("type"), wv = o.Get("weights"), rv = o.Get("rows");
      if (!tv.IsNumber() || !rv.IsNumber() || !wv.IsTypedArray() || wv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
        throw std::invalid_argument("matmulGroup: each entry needs numeric type and rows and Uint8Array weights");
      const int type = tv.As<Napi::Number>().Int32Value(), rows = rv.As<Napi::Number>().Int32Value();
      auto w = wv.As<Napi::Uint8Array>();
      if (!kernel_supports(type)) throw std::invalid_argument("matmulGroup: unsupported weight type " + std::to_string(type));
      check_row_length(type, cols);
      if (rows < 1 || w.ByteLength() != row_bytes(type, cols) * size_t(rows)) throw std::invalid_argument("matmulGroup: weights must be rows * row bytes long");
      ms.push_back(Matrix{w.Data(), type, rows, cols, arg_packed(o.Get("packed"), type, rows, cols)});
      outs.push_back(Napi::Float32Array::New(info.Env(), size_t(n_act) * size_t(rows)));
    }
    std::vector<const Matrix*> mp;
    std::vector<float*> yp;
    for (size_t i = 0; i < ms.size(); i++) { mp.push_back(&ms[i]); yp.push_back(outs[i].Data()); }
    {
      std::lock_guard<std::mutex> lock(engine_mutex());
      matmul_group(engine_pool(), mp.data(), yp.data(), int(ms.size()), x.Data(), n_act, variant);
    }
    auto result = Napi::Array::New(info.Env(), outs.size());
    for (uint32_t i = 0; i < outs.size(); i++) result.Set(i, outs[i]);
    return result;
  });
}

Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto g = arg_f32(info, 0, "gate");
    auto u = arg_f32(info, 1, "up");
    if (g.ElementLength() != u.ElementLength()) throw std::invalid_argument("swiglu: gate and up must have the same length");
    auto out = Napi::Float32Array::New(info.Env(), g.ElementLength());
    swiglu(g.Data(), u.Data(), out.Data(), int64_t(g.ElementLength()));
    return out;
  });
}

const char* variant_name(Variant v) {
  return v == Variant::Amx ? "amx" : v == Variant::Avx512 ? "avx512" : v == Variant::Avx2 ? "avx2" : "scalar";
}

Napi::Value CpuFeaturesJs(const Napi::CallbackInfo& info) {
  const CpuFeatures& f = cpu_features();
  auto o = Napi::Object::New(info.Env());
  o.Set("avx2", f.avx2);
  o.Set("fma", f.fma);
  o.Set("f16c", f.f16c);
  o.Set("avx512f", f.avx512f);
  o.Set("avx512bw", f.avx512bw);
  o.Set("avx512vl", f.avx512vl);
  o.Set("avx512vnni", f.avx512vnni);
  o.Set("avx512bf16", f.avx512bf16);
  o.Set("amxInt8", f.amx_int8);
  o.Set("autoVariant", variant_name(auto_variant()));
  auto list = Napi::Array::New(info.Env());
  uint32_t n = 0;
  for (Variant v : {Variant::Scalar, Variant::Avx2, Variant::Avx512, Variant::Amx})
    if (variant_available(v)) list.Set(n++, variant_name(v));
  o.Set("variants", list);
  return o;
}

// expfMismatches(firstBits, count) -> { mismatches, firstMismatchBits, vectorized }: expf_libm_row against the C
// library's expf over `count` consecutive float bit patterns.
Napi::Value ExpfMismatches(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int64_t first = arg_count(info, 0, "firstBits", 4294967295.0), count = arg_count(info, 1, "count", 4294967296.0);
    if (first + count > 0x100000000ll)
      throw std::invalid_argument("expfMismatches: the range must lie within the 2^32 float bit patterns");
    uint32_t first_bad = 0;
    const int64_t bad = expf_libm_mismatches(uint32_t(first), uint32_t(count), &first_bad);
    auto o = Napi::Object::New(info.Env());
    o.Set("mismatches", double(bad));
    o.Set("firstMismatchBits", bad ? Napi::Value(Napi::Number::New(info.Env(), first_bad)) : info.Env().Null());
    o.Set("vectorized", expf_libm_vectorized());
    return o;
  });
}

Napi::Value Supports(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), kernel_supports(arg_int(info, 0, "type")));
  });
}

}  // namespace

void register_kernel_api(Napi::Env env, Napi::Object exports) {
  auto k = Napi::Object::New(env);
  k.Set("quantizeRow", Napi::Function::New(env, QuantizeRow));
  k.Set("quantizeActivations", Napi::Function::New(env, QuantizeActivations));
  k.Set("dequantizeRow", Napi::Function::New(env, DequantizeRow));
  k.Set("pack", Napi::Function::New(env, Pack));
  k.Set("unpackRow", Napi::Function::New(env, UnpackRow));
  k.Set("matmul", Napi::Function::New(env, Matmul));
  k.Set("argmaxShadow", Napi::Function::New(env, ArgmaxShadowJs));
  k.Set("matmulGroup", Napi::Function::New(env, MatmulGroup));
  k.Set("matmulArgmax", Napi::Function::New(env, MatmulArgmax));
  k.Set("swiglu", Napi::Function::New(env, Swiglu));
  k.Set("cpuFeatures", Napi::Function::New(env, CpuFeaturesJs));
  k.Set("supports", Napi::Function::New(env, Supports));
  k.Set("expfMismatches", Napi::Function::New(env, ExpfMismatches));
  exports.Set("kernels", k);
}

}  // namespace ir
