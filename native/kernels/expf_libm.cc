#include "expf_libm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_features.h"

#if defined(__x86_64__)
#include "intrinsics.h"
#endif

namespace ir {

namespace {

#if defined(__x86_64__)
// glibc's expf (since 2.28, from Arm's optimized routines): with N = 32 and k = round(x·N/ln2),
// exp(x) = 2^(k/N) · 2^(r/N) for r = x·N/ln2 - k, 2^(k/N) from a 32-entry table, 2^(r/N) a cubic in r, all in
// double, then one rounding to float. The same operations in the same order (glibc's x86-64 build contracts the
// polynomial into fused multiply-adds) give the same bits; test/native/kernels/expf.test.ts checks every float
// from -0 down to -104, and a sample check at load falls back to expf if this C library computes otherwise.
// Lanes below -104 (where expf underflows to 0, -inf included) are set to 0; NaN or positive lanes send their
// group of 16 to the C library.
constexpr double kInvLn2N = 0x1.71547652b82fep+0 * 32, kShift = 0x1.8p+52;
constexpr double kC0 = 0x1.c6af84b912394p-5 / 32 / 32 / 32, kC1 = 0x1.ebfce50fac4f3p-3 / 32 / 32, kC2 = 0x1.62e42ff0c52d6p-1 / 32;
constexpr float kLowest = -104.0f;

// tab[i] = bits(2^(i/32)) - (i << 47): adding k << 47 to tab[k % 32] gives the bits of 2^(k/32).
struct Table {
  uint64_t tab[32];
  Table() {
    for (int i = 0; i < 32; i++) {
      const double v = double(exp2l(static_cast<long double>(i) / 32));
      uint64_t b;
      std::memcpy(&b, &v, 8);
      tab[i] = b - (uint64_t(i) << 47);
    }
  }
};
const Table table;

__attribute__((target("avx512f,avx512dq,fma"))) inline __m256 expf8(__m256 x) {
  const __m512d xd = _mm512_cvtps_pd(x), inv = _mm512_set1_pd(kInvLn2N), shift = _mm512_set1_pd(kShift);
  __m512d kd = _mm512_fmadd_pd(inv, xd, shift);
  const __m512i ki = _mm512_castpd_si512(kd);
  kd = _mm512_sub_pd(kd, shift);
  const __m512d r = _mm512_fmsub_pd(inv, xd, kd);
  const __m512i t = _mm512_add_epi64(_mm512_i64gather_epi64(_mm512_and_si512(ki, _mm512_set1_epi64(31)), table.tab, 8),
                                     _mm512_slli_epi64(ki, 47));
  const __m512d z = _mm512_fmadd_pd(_mm512_set1_pd(kC0), r, _mm512_set1_pd(kC1));
  __m512d y = _mm512_fmadd_pd(_mm512_set1_pd(kC2), r, _mm512_set1_pd(1.0));
  y = _mm512_fmadd_pd(z, _mm512_mul_pd(r, r), y);
  return _mm512_cvtpd_ps(_mm512_mul_pd(y, _mm512_castsi512_pd(t)));
}

__attribute__((target("avx512f,avx512dq,fma"))) void expf_row_avx512(const float* x, float* y, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    // Not NaN and <= 0: the domain the vector path reproduces.
    if (_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LE_OQ) != 0xFFFF) {
      for (int j = i; j < i + 16; j++) y[j] = expf(x[j]);
      continue;
    }
    const __mmask16 underflow = _mm512_cmp_ps_mask(v, _mm512_set1_ps(kLowest), _CMP_LT_OQ);
    const __m512 lo = _mm512_castps256_ps512(expf8(_mm512_castps512_ps256(v)));
    const __m512 e = _mm512_insertf32x8(lo, expf8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), 1);
    _mm512_storeu_ps(y + i, _mm512_mask_blend_ps(underflow, e, _mm512_setzero_ps()));
  }
  for (; i < n; i++) y[i] = expf(x[i]);
}
#endif

void expf_row_scalar(const float* x, float* y, int n) {
  for (int i = 0; i < n; i++) y[i] = expf(x[i]);
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0 || (std::isnan(a) && std::isnan(b)); }

using RowFn = void (*)(const float*, float*, int);

// The vector path if this CPU has it and it agrees with the C library on a spread of inputs.
RowFn pick_row_fn() {
#if defined(__x86_64__)
  const CpuFeatures& f = cpu_features();
  if (!(f.avx512f && f.fma && f.avx512dq)) return expf_row_scalar;
  std::vector<float> x(1 << 14), y(x.size());
  const uint32_t stride = (0xC2E00000u - 0x80000000u) / uint32_t(x.size()) | 1;  // from -0 to below -104
  for (size_t i = 0; i < x.size(); i++) {
    const uint32_t bits = 0x80000000u + uint32_t(i) * stride;
    std::memcpy(&x[i], &bits, 4);
  }
  expf_row_avx512(x.data(), y.data(), int(x.size()));
  for (size_t i = 0; i < x.size(); i++)
    if (!same_bits(y[i], expf(x[i]))) return expf_row_scalar;
  return expf_row_avx512;
#else
  return expf_row_scalar;
#endif
}

const RowFn row_fn = pick_row_fn();

}  // namespace

void expf_libm_row(const float* x, float* y, int n) { row_fn(x, y, n); }

bool expf_libm_vectorized() { return row_fn != expf_row_scalar; }

int64_t expf_libm_mismatches(uint32_t first_bits, uint32_t count, uint32_t* first_mismatch_bits) {
  constexpr uint32_t kChunk = 1 << 16;
  std::vector<float> x(kChunk), y(kChunk);
  int64_t bad = 0;
  for (uint32_t done = 0; done < count;) {
    const uint32_t n = std::min(kChunk, count - done);
    for (uint32_t i = 0; i < n; i++) {
      const uint32_t b = first_bits + done + i;
      std::memcpy(&x[i], &b, 4);
    }
    expf_libm_row(x.data(), y.data(), int(n));
    for (uint32_t i = 0; i < n; i++)
      if (!same_bits(y[i], expf(x[i])) && bad++ == 0 && first_mismatch_bits) *first_mismatch_bits = first_bits + done + i;
    done += n;
  }
  return bad;
}

}  // namespace ir
