// GGML tensor types and quantization block layouts, exactly as the GGUF format defines them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ir {

enum GgmlType : int {
  GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q5_0 = 6, GGML_Q5_1 = 7,
  GGML_Q8_0 = 8, GGML_Q8_1 = 9, GGML_Q2_K = 10, GGML_Q3_K = 11, GGML_Q4_K = 12, GGML_Q5_K = 13,
  GGML_Q6_K = 14, GGML_Q8_K = 15, GGML_IQ4_NL = 20, GGML_IQ4_XS = 23, GGML_BF16 = 30,
};

constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK_K = 256, K_SCALE_SIZE = 12;

using ggml_half = uint16_t;

struct block_q4_0 { ggml_half d; uint8_t qs[QK4_0 / 2]; };
struct block_q4_1 { ggml_half d, m; uint8_t qs[QK4_1 / 2]; };
struct block_q5_0 { ggml_half d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct block_q5_1 { ggml_half d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct block_q8_0 { ggml_half d; int8_t qs[QK8_0]; };
struct block_q2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; ggml_half d, dmin; };
struct block_q3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; ggml_half d; };
struct block_q4_K { ggml_half d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct block_q5_K { ggml_half d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; ggml_half d; };
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };
struct block_iq4_nl { ggml_half d; uint8_t qs[16]; };
struct block_iq4_xs { ggml_half d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };

static_assert(sizeof(block_q4_0) == 18, "q4_0 layout");
static_assert(sizeof(block_q8_0) == 34, "q8_0 layout");
static_assert(sizeof(block_q4_K) == 144, "q4_K layout");
static_assert(sizeof(block_q6_K) == 210, "q6_K layout");
static_assert(sizeof(block_q2_K) == 84, "q2_K layout");
static_assert(sizeof(block_q3_K) == 110, "q3_K layout");
static_assert(sizeof(block_q5_K) == 176, "q5_K layout");
static_assert(sizeof(block_q8_K) == 292, "q8_K layout");
static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl layout");
static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs layout");

struct TypeTraits { int block_size; int type_size; };

// Block geometry of a type; block_size 0 when the type is not known to this engine.
TypeTraits type_traits(int type);
// Bytes in a row of n elements (n a multiple of the block size).
inline size_t row_bytes(int type, int64_t n) {
  TypeTraits t = type_traits(type);
  return t.block_size ? size_t(n / t.block_size) * size_t(t.type_size) : 0;
}

// IEEE half and bfloat16 conversions, portable (no F16C needed).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
// n floats to f16, rounded to nearest even: F16C where the CPU has it (as ggml on x86), else fp32_to_fp16 (the
// same bits for every value but NaN payloads).
void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n);
inline float bf16_to_fp32(uint16_t h) {
  union { uint32_t u; float f; } v; v.u = uint32_t(h) << 16; return v.f;
}
uint16_t fp32_to_bf16(float f);

// A lookup table for fast f16 → f32 in scalar code.
extern float g_fp16_table[1 << 16];
inline float fp16_lut(uint16_t h) { return g_fp16_table[h]; }

}  // namespace ir
