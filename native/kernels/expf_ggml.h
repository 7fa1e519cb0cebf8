// exp(x) as llama.cpp's ggml_v_expf computes it in its AVX-512 form (the zen4 arithmetic every kernel variant
// reproduces), one float at a time: the avx2 variant's lanes that leave the normal range, and the scalar variant's
// SiLU. ggml's AVX2 form of the same polynomial (j·2^n + 2^n instead of the polynomial around 1 scaled by
// vscalefps) rounds differently: ~28% of its results over x in [-80, 80] were an ulp away from the AVX-512 form's.
#pragma once
#include <cmath>

namespace ir {

// vscalefps(poly, n) as ggml_v_expf uses it: poly·2^n rounded once (n an integral float), +inf / 0 beyond |n| > 192.
inline float scalef_ggml(float poly, float n) {
  if (std::isnan(n)) return poly + n;
  if (std::fabs(n) > 192) return n <= 0 ? 0.0f : INFINITY;
  // Two exact halves of the exponent: the first product stays normal (|poly| ~ 1, |n| / 2 <= 96), so only the
  // second one rounds (into the subnormals, or to infinity), as the single scaling does.
  const int e = int(n), e1 = e / 2;
  return poly * std::ldexp(1.0f, e1) * std::ldexp(1.0f, e - e1);
}

// The polynomial around 1 (lo = 1 + c1·b first) whose value ggml_v_expf's AVX-512 form scales by 2^n.
struct ExpfParts {
  float poly, n;
};
inline ExpfParts expf_ggml_parts(float x) {
  const float shift = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, shift);
  const float n = z - shift;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float hi = std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f);
  const float mid = std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f);
  const float lo = std::fma(0x1.ffffecp-1f, b, 1.0f);
  return {std::fma(std::fma(hi, u, mid), u, lo), n};
}

inline float expf_ggml_scalar(float x) {
  const ExpfParts p = expf_ggml_parts(x);
  return scalef_ggml(p.poly, p.n);
}

// ggml_v_silu's lane: x / (1 + exp(0 - x)).
inline float silu_ggml_scalar(float x) { return x / (1.0f + expf_ggml_scalar(0.0f - x)); }

}  // namespace ir
