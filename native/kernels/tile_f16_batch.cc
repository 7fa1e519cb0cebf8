// F16 weights against 2+ activation rows as llama.cpp's AVX-512 library sums them (tinyBLAS<16, __m512, __m512,
// ggml_fp16_t>: weights and activations widened with vcvtph2ps, an f32 fused multiply-add per 16 elements), blocked
// by tinyblas_gemm.h. Batches of 64+ rows take gemm_act_panel: each activation tile's rows widened once per weight
// band into an f32 panel in L1, so the 4x6 register tile's loop widens only its 4 weight vectors per 24 FMAs, not 10
// (a 512-bit vcvtph2ps takes two FMA slots on Sapphire Rapids, ports 0 and 5). The widening is exact: the same
// products, the same bits.
// matmul.cc's driver hands the activations over as f16 (TileArgs::act_16bit, converted once per matmul); other
// callers' f32 rows holding f16 values are narrowed here (exactly).
#include "tinyblas_gemm.h"

#include "../ggml_types.h"

namespace ir {
namespace avx512 {
namespace {

// The 4x6 tile widening both sides in its loop (10 vcvtph2ps per 24 FMAs): batches of few rows, which wait on the
// weights from memory rather than on the FMA ports. tinyblas::gemm blocks them.
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

// The same tile reading its activations from tinyblas::gemm_act_panel's f32 panel, widening only the weights, over
// passes of 1024 elements: 6 panel rows of 1024 floats are 24 KB of L1. On Llama-1B's shapes the kernel ran 1.2-1.4x
// faster than F16Op from 64 activation rows; passes of 512 ran ~0.9x, 2x12 and 3x8 tiles slower (GCC spilled their
// row pointers, and their panels of 1024-element passes outgrow L1).
struct F16PanelOp : F16Op {
  using Act = float;
  static constexpr int64_t kKc = 1024;
  static AVec load_a(const float* p, int = 0) { return _mm512_loadu_ps(p); }
  static void to_act_panel(const uint16_t* src, int64_t n, float* dst) {
    for (int64_t i = 0; i < n; i += kStep) _mm512_store_ps(dst + i, widen(src + i));
  }
};

// Below this many activation rows the panel's band of weights, read in two 1024-element passes, streamed from memory
// worse than F16Op's whole rows (weights from memory, one thread: 4-16 rows 0.65-0.9x, 32 rows 0.9-1.0x, 64 rows
// 1.0-1.15x): a batched decode step's or a short prompt's rows keep F16Op.
constexpr int kPanelMinActs = 64;

void run(const TileArgs& t, const uint16_t* act) {
  if (t.n_act >= kPanelMinActs) tinyblas::gemm_act_panel<F16PanelOp>(t, act);
  else tinyblas::gemm<F16Op>(t, act);
}

}  // namespace

bool f16_batch_applies(const TileArgs& t) { return t.wtype == GGML_F16 && !t.single_row && t.k % 16 == 0; }

void tile_f16_batch(const TileArgs& t) {
  if (t.act_16bit) {  // the driver's rows, converted once per matmul
    run(t, reinterpret_cast<const uint16_t*>(t.act));
    return;
  }
  thread_local std::vector<uint16_t> act;
  const size_t n = size_t(t.n_act) * size_t(t.k);  // a multiple of 16
  act.resize(n);
  const auto* af = reinterpret_cast<const float*>(t.act);
  for (size_t i = 0; i < n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(act.data() + i), _mm512_cvtps_ph(_mm512_loadu_ps(af + i), _MM_FROUND_TO_NEAREST_INT));
  run(t, act.data());
}

}  // namespace avx512
}  // namespace ir
