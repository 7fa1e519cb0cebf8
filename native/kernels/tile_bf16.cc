// BF16 weights as llama.cpp's zen4 (AVX512-BF16) library computes them: `vdpbf16ps`, which adds the two bf16·bf16
// products of each f32 lane's pair into its accumulator (denormal inputs as zero), a rounding neither a widened
// f32 FMA chain nor ggml's portable order reproduces. Two orders, as in llama.cpp:
// - a lone activation row (ggml_vec_dot_bf16): two accumulators over 64-element steps, each reduced
//   (_mm512_reduce_add_ps) and added in double, the leftover elements' f32 products added in double;
// - 2+ activation rows with k % 32 == 0 (llamafile's tinyBLAS<32, __m512, __m512bh>): one accumulator per
//   (weight row, activation row) pair over 32-element steps, reduced once (tinyblas_gemm.h's blocking).
// The instruction itself is used where the CPU has it and it is fast: its rounding is the hardware's. Its twin
// (bf16_twin.h: two f32 FMAs under DAZ/FTZ, Bf16FmaOp) computes the same steps without AVX512-BF16, and for batches
// on Intel (CpuFeatures::bf16_fma), where the instruction is slow.
#include "intrinsics.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../ggml_types.h"
#include "bf16_twin.h"
#include "cpu_features.h"
#include "kernel_variants.h"

// Everything below may use AVX512-BF16, and does only in Bf16Op, which runs where the CPU has it; the twin's paths
// (every path without it) are plain AVX-512F/BW code. The standard headers are included above, so none of their
// inline functions is compiled for it.
#pragma GCC target("avx512bf16")
#include "tinyblas_gemm.h"

namespace ir {
namespace avx512 {
namespace {

// The activations arrive as f32 values already rounded to bf16 (vec_dot_type): their top halves are exact.
void to_bf16(const float* a, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_loadu_si512(a + i), 16)));
  for (; i < n; i++) {
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

struct Bf16Op : tinyblas::Acc {
  using Act = uint16_t;
  using WVec = __m512bh;
  using AVec = __m512bh;
  static constexpr int kStep = 32;
  static WVec load_w(const uint16_t* p, int = 0) { return (__m512bh)_mm512_loadu_si512(p); }
  static AVec load_a(const uint16_t* p, int = 0) { return (__m512bh)_mm512_loadu_si512(p); }
  static __m512 madd(WVec w, AVec a, __m512 acc) { return _mm512_dpbf16_ps(acc, w, a); }
};

// vdpbf16ps's lane step as its twin (bf16_twin.h): two f32 FMAs, the odd elements' product then the even ones', under
// DAZ and FTZ. Per 32 elements: 2 FMAs and 2 widening ops per vector against one vdpbf16ps, which Intel cores run at
// a quarter of the FMA's instruction rate. A 4x5 tile: 20 accumulators, 4 weight and 1 activation vector as odd/even
// halves.
struct Bf16FmaOp : tinyblas::Acc {
  struct Halves {
    __m512 odd, even;
  };
  using Act = uint16_t;
  using WVec = Halves;
  using AVec = Halves;
  static constexpr int kStep = 32, kRA = 5;
  static Halves widen(const uint16_t* p) {
    const __m512i v = _mm512_loadu_si512(p);  // element 2j in the low half of dword j, 2j+1 in the high half
    return {_mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(int(0xFFFF0000u)))), _mm512_castsi512_ps(_mm512_slli_epi32(v, 16))};
  }
  static WVec load_w(const uint16_t* p, int = 0) { return widen(p); }
  static AVec load_a(const uint16_t* p, int = 0) { return widen(p); }
  static __m512 madd(WVec w, AVec a, __m512 acc) { return _mm512_fmadd_ps(w.even, a.even, _mm512_fmadd_ps(w.odd, a.odd, acc)); }
  // Over the steps only; the reduction (_mm512_reduce_add_ps) runs in the caller's environment, as llama.cpp's.
  using StepMode = DazFtzScope;
};

// ggml_vec_dot_bf16's steps for NW weight rows against NA activation rows (a: row m at m * k) by Op's step
// (vdpbf16ps, or its twin): each pair's two accumulators (c1: elements 0-31 of each 64-element step, c2: 32-63)
// stored at part[r] + 32 * m, c1 then c2, for bf16_pair_sum. Weight loads are shared by the activation rows,
// activation loads by the weight rows (several weight streams in flight: row_streams). kPrefetch:
// prefetch_runs_ahead in each 64-element step (decode's lone rows on Intel).
template <class Op, int NW, int NA, bool kPrefetch = false>
void bf16_steps(const uint16_t* const* w, const uint16_t* a, int64_t k, float* const* part) {
  __m512 c1[NW][NA], c2[NW][NA];
  for (int r = 0; r < NW; r++)
    for (int m = 0; m < NA; m++) c1[r][m] = c2[r][m] = _mm512_setzero_ps();
  for (int64_t i = 0; i + 64 <= k; i += 64) {
    if constexpr (kPrefetch) prefetch_runs_ahead<NW>(w, i * int64_t(sizeof(uint16_t)));
    typename Op::AVec a1[NA], a2[NA];
    for (int m = 0; m < NA; m++) {
      a1[m] = Op::load_a(a + m * k + i);
      a2[m] = Op::load_a(a + m * k + i + 32);
    }
    for (int r = 0; r < NW; r++) {
      const typename Op::WVec w1 = Op::load_w(w[r] + i), w2 = Op::load_w(w[r] + i + 32);
      for (int m = 0; m < NA; m++) {
        c1[r][m] = Op::madd(w1, a1[m], c1[r][m]);
        c2[r][m] = Op::madd(w2, a2[m], c2[r][m]);
      }
    }
  }
  for (int r = 0; r < NW; r++)
    for (int m = 0; m < NA; m++) {
      _mm512_storeu_ps(part[r] + 32 * m, c1[r][m]);
      _mm512_storeu_ps(part[r] + 32 * m + 16, c2[r][m]);
    }
}

// A pair's sum from bf16_steps' accumulators, in the caller's environment: each reduced, added in double, then the
// k % 64 leftovers' f32 products (af: the activation row as f32) in double.
float bf16_pair_sum(const float* part, const uint16_t* w, const float* af, int64_t k) {
  double sum = 0;
  sum += double(_mm512_reduce_add_ps(_mm512_loadu_ps(part)));
  sum += double(_mm512_reduce_add_ps(_mm512_loadu_ps(part + 16)));
  for (int64_t j = k & ~int64_t(63); j < k; j++) sum += double(bf16_value(w[j]) * af[j]);
  return float(sum);
}

// Every row of t in vec_dot's order (act, af: the activation rows as bf16 and as f32). One activation row (decode):
// long weight rows in 4 runs side by side (lone_row_runs, from kCompactStreamMinK; with prefetches on Intel).
// Several: each weight row meets them in passes of 8 (16 accumulators). The weight rows go in chunks whose pairs'
// accumulators fill kPartFloats: Op's environment (the twin's DAZ/FTZ; setting it costs ~100 cycles) is set once a
// chunk, the sums run after it.
template <class Op>
void lone_rows(const TileArgs& t, const uint16_t* act, const float* af) {
  constexpr size_t kPartFloats = size_t(32) << 10;
  auto row = [&](int r) { return reinterpret_cast<const uint16_t*>(t.w + size_t(r) * t.wrow); };
  const int chunk = int(std::max<size_t>(1, kPartFloats / (32 * size_t(t.n_act))));
  thread_local std::vector<float> parts;
  parts.resize(size_t(std::min(chunk, t.nw)) * size_t(t.n_act) * 32);
  float* part = parts.data();
  for (int r0 = 0; r0 < t.nw; r0 += chunk) {
    const int n = std::min(chunk, t.nw - r0);
    {
      [[maybe_unused]] const typename Op::StepMode mode;
      if (t.n_act == 1) {
        with_lone_prefetch([&](auto prefetch) {
          lone_row_runs<4>(n, t.k, [&](auto ns, const int* rs) {
            constexpr int NS = decltype(ns)::value;
            const uint16_t* w[NS];
            float* p[NS];
            for (int s = 0; s < NS; s++) {
              w[s] = row(r0 + rs[s]);
              p[s] = part + 32 * size_t(rs[s]);
            }
            bf16_steps<Op, NS, 1, decltype(prefetch)::value>(w, act, t.k, p);
          }, kCompactStreamMinK);
        });
      } else {
        for (int r = 0; r < n; r++) {
          const uint16_t* w[1] = {row(r0 + r)};
          act_passes<8>(t.n_act, [&](auto na, int m0) {
            float* p[1] = {part + 32 * (size_t(r) * size_t(t.n_act) + size_t(m0))};
            bf16_steps<Op, 1, decltype(na)::value>(w, act + int64_t(m0) * t.k, t.k, p);
          });
        }
      }
    }
    for (int r = 0; r < n; r++)
      for (int m = 0; m < t.n_act; m++)
        t.y[int64_t(m) * t.ldy + r0 + r] = bf16_pair_sum(part + 32 * (size_t(r) * size_t(t.n_act) + size_t(m)), row(r0 + r), af + int64_t(m) * t.k, t.k);
  }
}

// t's rows (act: the 16-bit rows) in tinyBLAS's order, by the instruction or by its FMA twin.
void gemm_bf16(const TileArgs& t, const uint16_t* act) {
  if (cpu_features().bf16_fma) tinyblas::gemm<Bf16FmaOp>(t, act);
  else tinyblas::gemm<Bf16Op>(t, act);
}

}  // namespace

bool bf16_dot_applies(const TileArgs& t) { return t.wtype == GGML_BF16 && (t.single_row || t.k % 32 == 0); }

void tile_bf16(const TileArgs& t) {
  if (t.act_16bit && !t.single_row) {  // the driver's rows, converted once per matmul
    gemm_bf16(t, reinterpret_cast<const uint16_t*>(t.act));
    return;
  }
  thread_local std::vector<uint16_t> act;
  act.resize(size_t(t.n_act) * size_t(t.k));
  const auto* af = reinterpret_cast<const float*>(t.act);
  to_bf16(af, int64_t(t.n_act) * t.k, act.data());
  if (!t.single_row) gemm_bf16(t, act.data());
  else if (cpu_features().avx512bf16) lone_rows<Bf16Op>(t, act.data(), af);
  else lone_rows<Bf16FmaOp>(t, act.data(), af);
}

}  // namespace avx512
}  // namespace ir
