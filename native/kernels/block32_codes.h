// A 32-element weight block's stored codes, decoded in registers, for the kernels of every SIMD variant that read
// Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/IQ4_NL blocks (tile_simd.cc, tile_block32_few.cc). Integers only: how a kernel turns
// codes into products is its own, and exact whatever it does.
#pragma once
#include "intrinsics.h"

#include <cstdint>
#include <cstring>

#include "../ggml_types.h"
#include "quants.h"

#ifndef IR_SIMD_NS
#error "IR_SIMD_NS must name the variant namespace"
#endif

namespace ir {
namespace IR_SIMD_NS {

// The f16 at p (a block's scale or min), unaligned.
inline float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// What a type's code adds to its level (level = code - bias): Q4_0's 8, Q5_0's 16; the others store the level.
constexpr int block32_bias(int wtype) { return wtype == GGML_Q4_0 ? 8 : wtype == GGML_Q5_0 ? 16 : 0; }

// Elements 0..31 of a block as bytes: Q4_0/Q4_1 nibbles (0..15), Q5_0/Q5_1 five-bit codes (0..31), IQ4_NL its
// table's signed values, Q8_0 the signed levels. A compile-time wtype folds the switch away.
inline __m256i block32_codes(int wtype, const uint8_t* blk) {
  const __m256i low4 = _mm256_set1_epi8(0xF);
  auto nibbles = [&](const uint8_t* qs) {  // low nibbles are elements 0..15, high nibbles 16..31
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low4);
  };
  switch (wtype) {
    case GGML_Q8_0: return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    case GGML_Q4_0: return nibbles(blk + 2);
    case GGML_Q4_1: return nibbles(blk + 4);
    case GGML_IQ4_NL: {
      const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
      return _mm256_shuffle_epi8(table, nibbles(blk + 2));
    }
    default: {  // Q5_0, Q5_1: a fifth bit per element from qh
      const bool has_min = wtype == GGML_Q5_1;
      uint32_t qh;
      std::memcpy(&qh, blk + (has_min ? 4 : 2), 4);
      // Spread the 32 high bits to bytes: byte j gets bit j of qh.
      const __m256i shuf = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
      const __m256i bitsel = _mm256_set1_epi64x(int64_t(0x8040201008040201));
      __m256i hb = _mm256_shuffle_epi8(_mm256_set1_epi32(int(qh)), shuf);
      hb = _mm256_cmpeq_epi8(_mm256_and_si256(hb, bitsel), bitsel);
      return _mm256_or_si256(nibbles(blk + (has_min ? 8 : 6)), _mm256_and_si256(hb, _mm256_set1_epi8(16)));
    }
  }
}

}  // namespace IR_SIMD_NS
}  // namespace ir
