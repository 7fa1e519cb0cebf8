// BF16 weights as llama.cpp's zen4 (AVX512-BF16) library computes them: `vdpbf16ps`, which adds the two bf16·bf16
// products of each f32 lane's pair into its accumulator (denormal inputs as zero), a rounding neither a widened
// f32 FMA chain nor ggml's portable order reproduces. Two orders, as in llama.cpp:
// - one activation row (ggml_vec_dot_bf16): two accumulators over 64-element steps, each reduced
//   (_mm512_reduce_add_ps) and added in double, the leftover elements' f32 products added in double;
// - 2+ activation rows with k % 32 == 0 (llamafile's tinyBLAS<32, __m512, __m512bh>): one accumulator per
//   (weight row, activation row) pair over 32-element steps, reduced once.
// The instruction itself is used: its rounding is the hardware's, on the CPU both run on.
#include "intrinsics.h"

#include <cstring>
#include <vector>

#include "../ggml_types.h"
#include "kernel_variants.h"

namespace ir {
namespace avx512 {
namespace {

// The activations arrive as f32 values already rounded to bf16 (vec_dot_type): their top halves are exact.
void to_bf16(const float* a, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t bits;
    std::memcpy(&bits, a + i, 4);
    out[i] = uint16_t(bits >> 16);
  }
}

inline float bf16_value(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

__attribute__((target("avx512f,avx512bf16"))) inline __m512 dp(__m512 acc, const uint16_t* w, const uint16_t* a) {
  return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_loadu_si512(w), (__m512bh)_mm512_loadu_si512(a));
}

__attribute__((target("avx512f,avx512bf16"))) float vec_dot_bf16(const uint16_t* w, const uint16_t* a, const float* af, int64_t k) {
  __m512 c1 = _mm512_setzero_ps(), c2 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= k; i += 64) {
    c1 = dp(c1, w + i, a + i);
    c2 = dp(c2, w + i + 32, a + i + 32);
  }
  double sum = 0;
  sum += double(_mm512_reduce_add_ps(c1));
  sum += double(_mm512_reduce_add_ps(c2));
  for (; i < k; i++) sum += double(bf16_value(w[i]) * af[i]);
  return float(sum);
}

// Up to 4 activation rows against one weight row, one accumulator chain per pair.
template <int MA>
__attribute__((target("avx512f,avx512bf16"))) void tinyblas_bf16(const uint16_t* w, const uint16_t* const* a, int64_t k, float* out) {
  __m512 acc[MA];
  for (int i = 0; i < MA; i++) acc[i] = _mm512_setzero_ps();
  for (int64_t l = 0; l < k; l += 32)
    for (int i = 0; i < MA; i++) acc[i] = dp(acc[i], w + l, a[i] + l);
  for (int i = 0; i < MA; i++) out[i] = _mm512_reduce_add_ps(acc[i]);
}

}  // namespace

bool bf16_dot_applies(const TileArgs& t, bool has_avx512bf16) {
  return has_avx512bf16 && t.wtype == GGML_BF16 && (t.single_row || t.k % 32 == 0);
}

void tile_bf16(const TileArgs& t) {
  thread_local std::vector<uint16_t> act;
  act.resize(size_t(t.n_act) * size_t(t.k));
  const auto* af = reinterpret_cast<const float*>(t.act);
  to_bf16(af, int64_t(t.n_act) * t.k, act.data());
  for (int r = 0; r < t.nw; r++) {
    const auto* w = reinterpret_cast<const uint16_t*>(t.w + size_t(r) * t.wrow);
    if (t.single_row) {
      t.y[r] = vec_dot_bf16(w, act.data(), af, t.k);
      continue;
    }
    int m = 0;
    for (; m < t.n_act;) {
      const uint16_t* rows[4];
      float out[4];
      const int n = t.n_act - m < 4 ? t.n_act - m : 4;
      for (int i = 0; i < n; i++) rows[i] = act.data() + size_t(m + i) * size_t(t.k);
      switch (n) {
        case 4: tinyblas_bf16<4>(w, rows, t.k, out); break;
        case 3: tinyblas_bf16<3>(w, rows, t.k, out); break;
        case 2: tinyblas_bf16<2>(w, rows, t.k, out); break;
        default: tinyblas_bf16<1>(w, rows, t.k, out); break;
      }
      for (int i = 0; i < n; i++) t.y[int64_t(m + i) * t.ldy + r] = out[i];
      m += n;
    }
  }
}

}  // namespace avx512
}  // namespace ir
