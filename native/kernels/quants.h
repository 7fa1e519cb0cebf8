// Block quantization formats: reference (scalar) quantizers that reproduce llama.cpp's quantize_row_*_ref, the
// activation quantizers llama.cpp's x86 CPU backend uses for matmul inputs, and dequantizers to f32.
#pragma once
#include <cstdint>
#include <cstring>

#include "../ggml_types.h"

namespace ir {

// Q8_1: the activation format paired with Q4_1/Q5_1 weights; s = d * sum(qs) rounded to f16.
struct block_q8_1 { ggml_half d, s; int8_t qs[32]; };
static_assert(sizeof(block_q8_1) == 36, "q8_1 layout");

// The encoding llama.cpp converts activations to before a dot product with weights of type `wtype`.
int vec_dot_type(int wtype);

// True for the weight types quantize_row_ref can produce (what llama-quantize writes without an imatrix).
bool can_quantize(int type);
// Quantizes n floats (n a multiple of the block size) to `type` exactly like llama.cpp's quantize_row_*_ref.
void quantize_row_ref(int type, const float* x, uint8_t* dst, int64_t n);

// Converts one activation row to vec_dot_type(wtype)'s encoding the way llama.cpp's x86 backend does at matmul
// time (Q8_0/Q8_1 round half to even with scale 127/amax; Q8_K as quantize_row_q8_K_ref; F16/BF16 nearest even).
void quantize_activation_row(int atype, const float* x, uint8_t* dst, int64_t n);

// Expands n elements of `type` (any type in type_traits plus Q8_1) to f32; false for an unknown type.
bool dequantize_row_any(int type, const uint8_t* src, float* dst, int64_t n);

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block.
inline void k4_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The scales and mins of a Q4_K/Q5_K block per 16 elements (each 32-element sub-block's pair twice), the layout
// of the 16-slot scale arrays that the other K-quants fill directly.
template <typename Scale, typename Min>
inline void k4_scales_mins_per16(const uint8_t* packed, Scale sc[16], Min mn[16]) {
  for (int j = 0; j < 8; j++) {
    uint8_t s, m;
    k4_scale_min(j, packed, &s, &m);
    sc[2 * j] = sc[2 * j + 1] = s;
    mn[2 * j] = mn[2 * j + 1] = m;
  }
}

// All eight scales and mins of a Q4_K/Q5_K block at once (k4_scale_min for every j): the scales as bytes 0..7 of
// u[0..1], the mins as bytes 0..7 of u[2..3].
inline void k4_scales_mins(const uint8_t* packed, uint32_t u[4]) {
  std::memcpy(u, packed, 12);
  u[3] = ((u[2] >> 4) & 0x0F0F0F0Fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  const uint32_t mins_low = u[1] & 0x3F3F3F3Fu;
  u[1] = (u[2] & 0x0F0F0F0Fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  u[2] = mins_low;
  u[0] &= 0x3F3F3F3Fu;
}

// The 16 signed 6-bit sub-block scales of a Q3_K block (already minus 32).
void q3k_scales(const uint8_t packed[12], int8_t out[16]);

// IQ4_NL / IQ4_XS non-linear code book.
extern const int8_t kIq4nlValues[16];

// An IQ4_XS super-block's levels (code-book values) and its 6-bit scales minus 32, one per 16 elements (each
// 32-element sub-block's scale twice), for the scalar and the few-rows unpackers.
template <class Level>
inline void iq4xs_levels(const block_iq4_xs* b, int sc[16], Level q[QK_K]) {
  for (int ib = 0; ib < 8; ib++) {
    const int ls = ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b->scales_h >> (2 * ib)) & 3) << 4);
    sc[2 * ib] = sc[2 * ib + 1] = ls - 32;
    for (int j = 0; j < 16; j++) {
      q[32 * ib + j] = Level(kIq4nlValues[b->qs[16 * ib + j] & 0xF]);
      q[32 * ib + j + 16] = Level(kIq4nlValues[b->qs[16 * ib + j] >> 4]);
    }
  }
}

}  // namespace ir
