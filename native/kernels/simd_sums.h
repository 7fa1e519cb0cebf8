// Horizontal sums the SIMD kernels share, in the exact order llama.cpp's x86 code takes them (a float sum's bits
// depend on its order). Inside the variant's namespace (IR_SIMD_NS): each variant's library keeps its own copy,
// compiled with its own instruction set, so the linker never hands one variant another's code.
#pragma once
#include "intrinsics.h"

#include <cstdint>

#ifndef IR_SIMD_NS
#error "IR_SIMD_NS must name the variant namespace"
#endif

namespace ir {
namespace IR_SIMD_NS {

// The 8-lane float sum as ggml's hsum_float_8: the 128-bit halves, then the 64-bit halves, then the last pair.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// hsum of eight vectors at once, bit for bit: out[j] = hsum(v[j]). Each add takes the same two values as hsum's for
// every vector, with shuffles gathering two, four and eight vectors' partial sums per add (21 instructions for eight
// sums against hsum's ~40).
inline void hsum8(const __m256 (&v)[8], float* out) {
  __m256 s[4], u[2];
  for (int p = 0; p < 4; p++)  // [v[2p] lanes i + i+4 | v[2p+1]'s]
    s[p] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * p], v[2 * p + 1], 0x20), _mm256_permute2f128_ps(v[2 * p], v[2 * p + 1], 0x31));
  for (int q = 0; q < 2; q++)  // per 128-bit half: (0+2, 1+3) of s[2q]'s, then of s[2q+1]'s
    u[q] = _mm256_add_ps(_mm256_shuffle_ps(s[2 * q], s[2 * q + 1], 0x44), _mm256_shuffle_ps(s[2 * q], s[2 * q + 1], 0xEE));
  // (0+2) + (1+3): the sums of v[0], v[2], v[4], v[6] | v[1], v[3], v[5], v[7]
  alignas(32) float t[8];
  _mm256_store_ps(t, _mm256_add_ps(_mm256_shuffle_ps(u[0], u[1], 0x88), _mm256_shuffle_ps(u[0], u[1], 0xDD)));
  for (int j = 0; j < 4; j++) out[2 * j] = t[j], out[2 * j + 1] = t[4 + j];
}

// The sum of the 8 int32 lanes (exact in any order).
inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// Lane i = the sum of all lanes of v[i] (i < N <= 8; the other lanes are zero). Integers: any order is exact.
template <int N>
inline __m256i lane_sums(const __m256i (&v)[N]) {
  const __m256i z = _mm256_setzero_si256();
  auto at = [&](int i) { return i < N ? v[i] : z; };
  if constexpr (N <= 4) {
    const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(at(0), at(1)), _mm256_hadd_epi32(at(2), at(3)));
    return _mm256_zextsi128_si256(_mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)));
  } else {
    const __m256i s0 = _mm256_hadd_epi32(_mm256_hadd_epi32(at(0), at(1)), _mm256_hadd_epi32(at(2), at(3)));
    const __m256i s1 = _mm256_hadd_epi32(_mm256_hadd_epi32(at(4), at(5)), _mm256_hadd_epi32(at(6), at(7)));
    return _mm256_add_epi32(_mm256_permute2x128_si256(s0, s1, 0x20), _mm256_permute2x128_si256(s0, s1, 0x31));
  }
}

// The outputs of a K-quant pass over N <= 8 activation rows, one per float lane (the AVX2 tile_ksuper_rows and the
// AVX-512 tile_ksuper_batch take the same float steps): Q4_K's single-row order holds row i in lane i of `seq`, less
// that lane of msum; Q5_K and Q6_K hold it in acc[i]'s eight lanes, summed by hsum, less msum's lane i.
template <bool kSeqLanes, int N, int M>
inline void store_pass_outputs(__m256 seq, __m256 msum, const __m256 (&acc)[M], float* y, int64_t ldy) {
  float out[8];
  if constexpr (kSeqLanes) {
    _mm256_storeu_ps(out, _mm256_sub_ps(seq, msum));
    for (int i = 0; i < N; i++) y[i * ldy] = out[i];
  } else {
    static_assert(M >= N);
    _mm256_storeu_ps(out, msum);
    for (int i = 0; i < N; i++) y[i * ldy] = hsum(acc[i]) - out[i];
  }
}

}  // namespace IR_SIMD_NS
}  // namespace ir
