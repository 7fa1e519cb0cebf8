// Horizontal sums the SIMD kernels share, in the exact order llama.cpp's x86 code takes them (a float sum's bits
// depend on its order). Inside the variant's namespace (IR_SIMD_NS): each variant's library keeps its own copy,
// compiled with its own instruction set, so the linker never hands one variant another's code.
#pragma once
#include "intrinsics.h"

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

}  // namespace IR_SIMD_NS
}  // namespace ir
