// F16/BF16 weights against many activation rows in llamafile's tinyBLAS order, blocked for the caches (AVX-512).
// tinyBLAS (what llama.cpp runs for a float matmul of 2+ activation rows) keeps one 16-lane accumulator per
// (weight row, activation row) pair, adds one step of Op::kStep elements at a time in k order (`madd`: an f32
// fused multiply-add for F16, vdpbf16ps for BF16), and reduces it once with _mm512_reduce_add_ps. Any blocking that
// keeps each pair's chain whole and in order gives its bits, so this one is free to pick its own:
// - a 4 weight rows x 6 activation rows register tile (24 accumulators; the weights decoded once per step and used
//   6 times, each activation vector loaded once and used 4 times);
// - the k range in passes of kKc elements: a pass's 4 weight rows (16 KB of f16) stay in L1 while every activation
//   group of the block runs against them; the accumulators between passes are stored and reloaded (exact);
// - activation rows in blocks of ~kActBlockBytes (L2): a band's weights come from memory once per block;
// - with several passes (k > kKc: Llama-1B's 8192-wide FFN down), weight rows in sub-bands of kSubRows: each pass
//   runs all of a sub-band's 4-row groups against the block's k slice (kActBlockBytes, in L2) before the next
//   slice, instead of one group through every slice (a 96-row block of 8192 elements is 1.5 MB: more than L2, so
//   every group streamed it from L3). The sub-band's accumulators (kSubRows x block rows x 64 B, 96 KB) stay in L2.
// Op supplies Act (the activation element type), kStep, load_w, load_a and madd. Included by the kernels of one
// instruction set only (tile_f16_batch.cc, tile_bf16.cc: the latter compiled for AVX512-BF16).
#pragma once
#include "intrinsics.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernel_variants.h"

namespace ir {
namespace avx512 {
namespace tinyblas {

constexpr int kRW = 4, kRA = 6;
constexpr int64_t kKc = 2048;
constexpr size_t kActBlockBytes = size_t(384) << 10;
constexpr int kSubRows = 16;
static_assert(kSubRows % kRW == 0, "sub-bands are whole register tiles");

// _mm512_reduce_add_ps of 16 vectors at once: lane L of the result is x[L]'s sum, by GCC's tree for one vector
// (lanes i + i+8, then j + j+4, then (0+2) and (1+3), then those two), every add the same two values as there, so
// the same bits; shuffles gather 2, 4, 8 and 16 vectors' partial sums per add instead of one (~4x fewer instructions
// than 16 reductions, ~10% of a 2048-wide tile's time). The inputs are taken in 4x4-transposed order so that the
// lanes come out in x's order.
inline __m512 reduce_add_16(const __m512* x) {
  auto in = [&](int s) { return x[4 * (s % 4) + s / 4]; };
  __m512 s[8], u[4], w[2];
  for (int p = 0; p < 8; p++) {  // 128-bit chunks [a lo half, a hi half, b lo, b hi] of lane sums i + i+8
    const __m512 a = in(2 * p), b = in(2 * p + 1);
    s[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0xEE), _mm512_shuffle_f32x4(a, b, 0x44));
  }
  for (int m = 0; m < 4; m++)  // chunk c: vector 4m+c's sums j + j+4
    u[m] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * m], s[2 * m + 1], 0xDD), _mm512_shuffle_f32x4(s[2 * m], s[2 * m + 1], 0x88));
  for (int n = 0; n < 2; n++)  // chunk c: (0+2, 1+3) of u[2n]'s and of u[2n+1]'s chunk c
    w[n] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * n], u[2 * n + 1], 0x44), _mm512_shuffle_ps(u[2 * n], u[2 * n + 1], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xDD));
}

// The RW x RA accumulators' sums into y[i * ldy + r]: four weight rows' sums of an activation row are adjacent in y,
// so a full-width tile reduces four activation rows per reduce_add_16 (chunk i: rows r = 0..3).
template <int RW, int RA>
inline void reduce_tile(const __m512 (&c)[RW][RA], float* y, int64_t ldy) {
  if constexpr (RW == 4) {
#pragma GCC unroll 2
    for (int i0 = 0; i0 < RA; i0 += 4) {
      __m512 x[16];
#pragma GCC unroll 4
      for (int ii = 0; ii < 4; ii++)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) x[4 * ii + r] = i0 + ii < RA ? c[r][std::min(i0 + ii, RA - 1)] : _mm512_setzero_ps();
      alignas(64) float sums[16];
      _mm512_store_ps(sums, reduce_add_16(x));
      for (int ii = 0; ii < 4 && i0 + ii < RA; ii++) std::copy(sums + 4 * ii, sums + 4 * ii + 4, y + (i0 + ii) * ldy);
    }
  } else {
    for (int r = 0; r < RW; r++)
      for (int i = 0; i < RA; i++) y[i * ldy + r] = _mm512_reduce_add_ps(c[r][i]);
  }
}

// RW weight rows against RA activation rows over [0, kc) of their (already offset) pointers. acc holds the RW*RA
// accumulators between passes: zeroed here on the first pass, reduced into y on the last.
template <class Op, int RW, int RA>
inline void micro(const uint16_t* const* w, const typename Op::Act* a, int64_t lda, int64_t kc, float* acc, bool first,
                  bool last, float* y, int64_t ldy) {
  __m512 c[RW][RA];
#pragma GCC unroll 4
  for (int r = 0; r < RW; r++)
#pragma GCC unroll 6
    for (int i = 0; i < RA; i++) c[r][i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + 16 * (r * RA + i));
  for (int64_t l = 0; l < kc; l += Op::kStep) {
    typename Op::WVec wv[RW];
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++) wv[r] = Op::load_w(w[r] + l);
#pragma GCC unroll 6
    for (int i = 0; i < RA; i++) {
      const typename Op::AVec av = Op::load_a(a + i * lda + l);
#pragma GCC unroll 4
      for (int r = 0; r < RW; r++) c[r][i] = Op::madd(wv[r], av, c[r][i]);
    }
  }
  if (last) {
    reduce_tile<RW, RA>(c, y, ldy);
    return;
  }
#pragma GCC unroll 4
  for (int r = 0; r < RW; r++)
#pragma GCC unroll 6
    for (int i = 0; i < RA; i++) _mm512_storeu_ps(acc + 16 * (r * RA + i), c[r][i]);
}

template <class Op>
using MicroFn = void (*)(const uint16_t* const*, const typename Op::Act*, int64_t, int64_t, float*, bool, bool, float*, int64_t);

template <class Op, int RW>
struct MicroRow {
  static constexpr MicroFn<Op> at(int ra) {
    return ra == 1 ? micro<Op, RW, 1> : ra == 2 ? micro<Op, RW, 2> : ra == 3 ? micro<Op, RW, 3>
         : ra == 4 ? micro<Op, RW, 4> : ra == 5 ? micro<Op, RW, 5> : micro<Op, RW, 6>;
  }
};

template <class Op>
MicroFn<Op> micro_for(int rw, int ra) {
  switch (rw) {
    case 1: return MicroRow<Op, 1>::at(ra);
    case 2: return MicroRow<Op, 2>::at(ra);
    case 3: return MicroRow<Op, 3>::at(ra);
    default: return MicroRow<Op, 4>::at(ra);
  }
}

// Part i of n splitting `total` as evenly as possible (the first total % n parts one larger).
inline int even_share(int total, int n, int i) { return total / n + (i < total % n); }

// t's band of weight rows (k % Op::kStep == 0) against its n_act activation rows `act` (row stride t.k).
template <class Op>
void gemm(const TileArgs& t, const typename Op::Act* act) {
  const int64_t k = t.k;
  const int64_t kc = std::min(k, kKc);
  const int mb_max = std::max<int>(kRA, int(kActBlockBytes / (size_t(kc) * sizeof(typename Op::Act))) / kRA * kRA);
  thread_local std::vector<float> accs;  // 16 floats per accumulator
  if (k > kc && accs.size() < size_t(mb_max) * kSubRows * 16) accs.resize(size_t(mb_max) * kSubRows * 16);
  const int n_blocks = (t.n_act + mb_max - 1) / mb_max;
  for (int b = 0, m0 = 0, mb; b < n_blocks; b++, m0 += mb) {
    mb = even_share(t.n_act, n_blocks, b);
    for (int s0 = 0; s0 < t.nw; s0 += kSubRows) {
      const int s1 = std::min(t.nw, s0 + kSubRows);
      for (int64_t k0 = 0; k0 < k; k0 += kc) {
        const int64_t kl = std::min(kc, k - k0);
        for (int r0 = s0; r0 < s1; r0 += kRW) {
          const int rw = std::min(kRW, t.nw - r0);
          const uint16_t* wk[kRW];
          for (int r = 0; r < kRW; r++)
            wk[r] = reinterpret_cast<const uint16_t*>(t.w + size_t(r0 + std::min(r, rw - 1)) * t.wrow) + k0;
          float* acc = accs.data() + size_t((r0 - s0) / kRW) * size_t(mb_max) * kRW * 16;
          const int n_tiles = (mb + kRA - 1) / kRA;
          for (int i = 0, a0 = 0, ra; i < n_tiles; i++, a0 += ra) {
            ra = even_share(mb, n_tiles, i);
            micro_for<Op>(rw, ra)(wk, act + size_t(m0 + a0) * size_t(k) + size_t(k0), k, kl, acc + size_t(a0) * kRW * 16,
                                  k0 == 0, k0 + kl == k, t.y + int64_t(m0 + a0) * t.ldy + r0, t.ldy);
          }
        }
      }
    }
  }
}

}  // namespace tinyblas
}  // namespace avx512
}  // namespace ir
