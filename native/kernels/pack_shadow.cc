// The Q8_0 estimate copy of a float head (PackedWeights::attach_argmax_shadow), quantized straight into the packed
// layout (pack.h) with AVX-512. It is made at every load of a float-headed model, over every weight of the head
// (Llama 3.2's is 128256 × 2048), so it is on the path to the first token: a scalar pass through an unpacked Q8_0
// buffer (zero-filled, then packed) was ~40% of an F16 Llama-3.2-1B load's CPU time. The levels and scales are
// the bytes of llama.cpp's reference Q8_0 quantization (quantize_q8_0 in quants.cc): a Q8_0 draft's head can
// share the copy only if they are (Transformer::share_head_with).
#include "intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../ggml_types.h"
#include "pack.h"
#include "quants.h"

namespace ir {
namespace avx512 {
namespace {

// 16 weights of a float row as f32 (every F16/BF16 value is exact in f32).
inline __m512 load16(int type, const uint8_t* row, int64_t j) {
  switch (type) {
    case GGML_F16: return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * j)));
    case GGML_BF16:
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * j))), 16));
    default: return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + j);
  }
}

// roundf: to nearest, halves away from zero (std::round in quantize_q8_0). v - trunc(v) is exact in float.
inline __m512 round_half_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(v, t), abs_mask), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one_signed = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_andnot_ps(abs_mask, v));
  return _mm512_mask_add_ps(t, up, t, one_signed);
}

// Squared norms in double, lane by lane (the sums' order differs from a scalar loop's by far less than the slack
// ShadowBuild::shadow adds to the norms).
inline __m512d low_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
inline __m512d high_pd(__m512 v) { return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))); }

inline void add_squares(__m512d& acc, __m512 v) {
  acc = _mm512_fmadd_pd(low_pd(v), low_pd(v), acc);
  acc = _mm512_fmadd_pd(high_pd(v), high_pd(v), acc);
}

// (x - c)² with the difference taken in double (exact for the close values of a weight and its copy).
inline void add_squared_differences(__m512d& acc, __m512 x, __m512 c) {
  const __m512d lo = _mm512_sub_pd(low_pd(x), low_pd(c)), hi = _mm512_sub_pd(high_pd(x), high_pd(c));
  acc = _mm512_fmadd_pd(lo, lo, acc);
  acc = _mm512_fmadd_pd(hi, hi, acc);
}

}  // namespace

ShadowStats pack_q8_0_shadow(int type, const uint8_t* src, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst) {
  const int64_t nb = cols / QK8_0;
  const size_t src_row = row_bytes(type, cols), level_bytes = packed_level_bytes(GGML_Q8_0);
  const size_t group_bytes = packed_group_bytes(GGML_Q8_0, cols), scale_bytes = packed_scale_bytes(GGML_Q8_0);
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  ShadowStats s;
  for (int64_t g = g0; g < g1; g++) {
    uint8_t* levels = dst + size_t(g) * group_bytes;
    uint8_t* scales = levels + size_t(nb) * level_bytes;
    for (int r = 0; r < kPackRows; r++) {
      const uint8_t* row = src + size_t(g * kPackRows + r) * src_row;
      __m512d w2 = _mm512_setzero_pd(), copy2 = w2, err2 = w2;
      for (int64_t b = 0; b < nb; b++) {
        const __m512 x0 = load16(type, row, 32 * b), x1 = load16(type, row, 32 * b + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x1, abs_mask), _mm512_and_ps(x0, abs_mask)));
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        const uint16_t dh = fp32_to_fp16(d);
        const __m512 q0 = round_half_away(_mm512_mul_ps(x0, _mm512_set1_ps(id)));
        const __m512 q1 = round_half_away(_mm512_mul_ps(x1, _mm512_set1_ps(id)));
        // Levels plus 128 (pack.h), dword v of the block into lane r of vector v.
        alignas(32) uint32_t dwords[8];
        const __m128i lo = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q0)), hi = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q1));
        _mm256_store_si256(reinterpret_cast<__m256i*>(dwords), _mm256_xor_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(char(0x80))));
        uint8_t* lv = levels + size_t(b) * level_bytes;
        for (int v = 0; v < 8; v++) std::memcpy(lv + 64 * v + 4 * r, &dwords[v], 4);
        std::memcpy(scales + size_t(b) * scale_bytes + size_t(r) * sizeof(ggml_half), &dh, sizeof(dh));
        // The copy's values as dequantize_row gives them: level · f32(d).
        const float dq = fp16_to_fp32(dh);
        s.max_abs_scale = std::max(s.max_abs_scale, std::fabs(dq));
        const __m512 c0 = _mm512_mul_ps(q0, _mm512_set1_ps(dq)), c1 = _mm512_mul_ps(q1, _mm512_set1_ps(dq));
        add_squares(w2, x0), add_squares(w2, x1);
        add_squares(copy2, c0), add_squares(copy2, c1);
        add_squared_differences(err2, x0, c0), add_squared_differences(err2, x1, c1);
      }
      s.max_w2 = std::max(s.max_w2, _mm512_reduce_add_pd(w2));
      s.max_copy2 = std::max(s.max_copy2, _mm512_reduce_add_pd(copy2));
      s.max_err2 = std::max(s.max_err2, _mm512_reduce_add_pd(err2));
    }
  }
  return s;
}

}  // namespace avx512
}  // namespace ir
