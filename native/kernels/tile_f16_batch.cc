// F16 weights against 2+ activation rows as llama.cpp's AVX-512 library sums them (tinyBLAS<16, __m512, __m512,
// ggml_fp16_t>: weights and activations widened with vcvtph2ps, an f32 fused multiply-add per 16 elements), blocked
// by tinyblas_gemm.h. The kernel reads f16 activations: the activation stream from L2 is what bounds it, and half
// the bytes ran 15-30% faster than f32 rows despite the extra conversions. matmul.cc's driver hands them over as f16
// (TileArgs::act_16bit, converted once per matmul); other callers' f32 rows holding f16 values are narrowed here
// (exactly).
#include "tinyblas_gemm.h"

#include "../ggml_types.h"

namespace ir {
namespace avx512 {
namespace {

struct F16Op : tinyblas::Acc {
  using Act = uint16_t;
  using WVec = __m512;
  using AVec = __m512;
  static constexpr int kStep = 16;
  static __m512 widen(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static WVec load_w(const uint16_t* p, int = 0) { return widen(p); }
  static AVec load_a(const uint16_t* p, int = 0) { return widen(p); }
  static __m512 madd(WVec w, AVec a, __m512 acc) { return _mm512_fmadd_ps(w, a, acc); }
};

}  // namespace

bool f16_batch_applies(const TileArgs& t) { return t.wtype == GGML_F16 && !t.single_row && t.k % 16 == 0; }

void tile_f16_batch(const TileArgs& t) {
  if (t.act_16bit) {  // the driver's rows, converted once per matmul
    tinyblas::gemm<F16Op>(t, reinterpret_cast<const uint16_t*>(t.act));
    return;
  }
  thread_local std::vector<uint16_t> act;
  const size_t n = size_t(t.n_act) * size_t(t.k);  // a multiple of 16
  act.resize(n);
  const auto* af = reinterpret_cast<const float*>(t.act);
  for (size_t i = 0; i < n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(act.data() + i), _mm512_cvtps_ph(_mm512_loadu_ps(af + i), _MM_FROUND_TO_NEAREST_INT));
  tinyblas::gemm<F16Op>(t, act.data());
}

}  // namespace avx512
}  // namespace ir
