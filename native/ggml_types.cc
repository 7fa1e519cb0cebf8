#include "ggml_types.h"

#if defined(__x86_64__)
#include "kernels/intrinsics.h"
#endif
#include <cstring>

namespace ir {

TypeTraits type_traits(int type) {
  switch (type) {
    case GGML_F32: return {1, 4};
    case GGML_F16: return {1, 2};
    case GGML_BF16: return {1, 2};
    case GGML_Q4_0: return {QK4_0, sizeof(block_q4_0)};
    case GGML_Q4_1: return {QK4_1, sizeof(block_q4_1)};
    case GGML_Q5_0: return {QK5_0, sizeof(block_q5_0)};
    case GGML_Q5_1: return {QK5_1, sizeof(block_q5_1)};
    case GGML_Q8_0: return {QK8_0, sizeof(block_q8_0)};
    case GGML_Q2_K: return {QK_K, sizeof(block_q2_K)};
    case GGML_Q3_K: return {QK_K, sizeof(block_q3_K)};
    case GGML_Q4_K: return {QK_K, sizeof(block_q4_K)};
    case GGML_Q5_K: return {QK_K, sizeof(block_q5_K)};
    case GGML_Q6_K: return {QK_K, sizeof(block_q6_K)};
    case GGML_Q8_1: return {32, 36};
    case GGML_Q8_K: return {QK_K, sizeof(block_q8_K)};
    case GGML_IQ4_NL: return {32, sizeof(block_iq4_nl)};
    case GGML_IQ4_XS: return {QK_K, sizeof(block_iq4_xs)};
    default: return {0, 0};
  }
}

static inline uint32_t f2u(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// Same algorithm as ggml's portable fp16 conversion, so rounding matches bit for bit.
float fp16_to_fp32(uint16_t h) {
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = 0xE0u << 23;
  const float exp_scale = u2f(0x7800000u);
  const float normalized = u2f((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = 126u << 23;
  const float magic_bias = 0.5f;
  const float denormalized = u2f((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = 1u << 27;
  const uint32_t result = sign | (two_w < denormalized_cutoff ? f2u(denormalized) : f2u(normalized));
  return u2f(result);
}

uint16_t fp32_to_fp16(float f) {
  const float scale_to_inf = u2f(0x77800000u);
  const float scale_to_zero = u2f(0x08800000u);
  float base = (f < 0 ? -f : f) * scale_to_inf * scale_to_zero;
  const uint32_t w = f2u(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = u2f((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = f2u(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return uint16_t((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) static void fp32_to_fp16_row_f16c(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}
static const bool g_has_f16c = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
#endif

void fp32_to_fp16_row(const float* x, uint16_t* y, int64_t n) {
#if defined(__x86_64__)
  if (g_has_f16c) return fp32_to_fp16_row_f16c(x, y, n);
#endif
  for (int64_t i = 0; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

uint16_t fp32_to_bf16(float f) {
  uint32_t u = f2u(f);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 64);  // quiet NaN
  return uint16_t((u + (0x7fff + ((u >> 16) & 1))) >> 16);               // round to nearest even
}

float g_fp16_table[1 << 16];
static const bool g_fp16_table_ready = [] {
  for (uint32_t i = 0; i < (1u << 16); i++) g_fp16_table[i] = fp16_to_fp32(uint16_t(i));
  return true;
}();

}  // namespace ir
