// F16/BF16 weights against many activation rows in llamafile's tinyBLAS order, blocked for the caches (AVX-512 and
// AVX2). tinyBLAS (what llama.cpp runs for a float matmul of 2+ activation rows) keeps one vector accumulator per
// (weight row, activation row) pair, adds one step of Op::kStep elements at a time in k order (`madd`: an f32
// fused multiply-add for F16, vdpbf16ps for BF16 or its twin of two FMAs, bf16_twin.h), and
// reduces it once (hsum). Any blocking that keeps each pair's chain whole and in order gives its bits, so this one
// is free to pick its own:
// - an Op::kRW weight rows x Op::kRA activation rows register tile (AVX-512 4x6: 24 of 32 registers; AVX2 3x4: 12
//   of 16; each decoded weight vector used kRA times, each activation vector kRW times);
// - the k range in passes of Op::kKc elements: a pass's kRW weight rows stay in L1 while every activation tile of
//   the block runs against them; the accumulators between passes are stored and reloaded (exact);
// - activation rows in blocks of ~kActBlockBytes (L2): a band's weights come from memory once per block;
// - an Op with a weight panel (has_panel: AVX2's BF16) converts a sub-band's rows of each pass once per block and runs
//   the block's activation tiles against it one after another, each tile against all of the sub-band's row tiles;
// - with several passes (k > kKc: Llama-1B's 8192-wide FFN down), weight rows in sub-bands of kSubTiles tiles: each
//   pass runs all of a sub-band's tiles of weight rows against the block's k slice (in L2) before the next slice,
//   instead of one tile's rows through every slice (a 96-row block of 8192 elements is 1.5 MB: more than L2, so
//   every group streamed it from L3). The sub-band's accumulators (4 kRW x block rows x one vector) stay in L2.
// gemm_act_panel (AVX-512's F16) blocks the other way round: a band of weight rows in L2, each activation tile's
// pass widened once into an f32 panel in L1 that every row tile of the band runs against.
// Op supplies Act (the activation element type), kStep, load_w, load_a and madd, and the accumulator side (Vec,
// zero/load/store/hsum, the tile's kRW, kRA, kKc, kRegisters and kSubSteps: AVX-512's Acc below, AVX2's in
// tile_simd.cc).
// Included by the kernels of one instruction set only (tile_f16_batch.cc and tile_bf16.cc, the latter compiled for
// AVX512-BF16; tile_simd.cc for AVX2), in that library's namespace.
#pragma once
#include "intrinsics.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernel_variants.h"

#ifndef IR_SIMD_NS
#error "IR_SIMD_NS must name the variant namespace"
#endif

namespace ir {
namespace IR_SIMD_NS {
namespace tinyblas {

constexpr size_t kActBlockBytes = size_t(384) << 10;
constexpr int kSubTiles = 4;
// AVX2 BF16 (the panel Op) on Llama-1B's 2048- and 8192-wide rows against 128 activation rows, one thread: 48-row
// blocks ran fastest for both (32 and 64 up to 0.9x; 12, which kActBlockBytes of the whole 8192 elements gives, 0.7x).
constexpr int64_t kPanelBlockK = 2048;

#if defined(__AVX512F__)
// AVX-512's accumulator vector and tile shape (AVX2's: tile_simd.cc). hsum is tinyBLAS's for the vector type.
struct Acc {
  using Vec = __m512;
  static constexpr int kRW = 4, kRA = 6, kRegisters = 32, kParts = 1, kSubSteps = 1;
  static constexpr int64_t kKc = 2048;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static float hsum(Vec v) { return _mm512_reduce_add_ps(v); }
  // Held over a tile's k loop (not its reduction): an Op whose steps need another floating-point environment.
  struct StepMode {};
  // The weight rows as micro reads them: the file's, or an Op's panel of them (has_panel).
  using WElem = uint16_t;
};

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
#endif

// The RW x RA accumulators' sums into y[i * ldy + r]: four weight rows' sums of an activation row are adjacent in y,
// so a full-width AVX-512 tile reduces four activation rows per reduce_add_16 (chunk i: rows r = 0..3).
template <class Op, int RW, int RA>
inline void reduce_tile(const typename Op::Vec (&c)[RW][RA], float* y, int64_t ldy) {
#if defined(__AVX512F__)
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
    return;
  }
#endif
  for (int r = 0; r < RW; r++)
    for (int i = 0; i < RA; i++) y[i * ldy + r] = Op::hsum(c[r][i]);
}

// RW weight rows against RA activation rows over [0, kc) of their (already offset) pointers. A step is Op::kSubSteps
// multiply-adds per accumulator, in order, each from its own weight and activation vectors (load_w/load_a's h) read
// at the step's offset: vdpbf16ps's twin on AVX2 takes the odd elements of 8 pairs, then the even ones, so a tile
// holds one vector per weight row at a time, as a plain f32 step does. acc holds the RW*RA
// accumulators between passes: zeroed here on the first pass, reduced into y on the last. The RW decoded weight
// vectors of a step are held in registers across the activation rows.
// An accumulator of the order computed may be Op::kParts vectors (AVX2 computing AVX-512's 16 lanes: two __m256,
// lanes 0-7 and 8-15, the first and second half of each kStep-element step). Each lane's chain is independent of the
// others, so the parts run one after the other (part P here) over the whole k slice, each a full register tile; part
// 0 goes through acc (also on the last pass), and the last part's sums are Op::hsum of the parts' sum
// (_mm512_reduce_add_ps's first add).
// An Op with a StepMode (a floating-point environment for its steps, not for the reduction) never reduces here: gemm
// holds the mode over a sub-band's passes (last is false) and reduces the stored accumulators after it
// (reduce_stored).
template <class Op, int RW, int RA, int P = 0>
inline void micro(const typename Op::WElem* const* w, const typename Op::Act* a, int64_t lda, int64_t kc, float* acc, bool first,
                  bool last, float* y, int64_t ldy);

// Part P of micro as a function of its own: inlined after part 0, GCC allocated its registers worse (weight vectors
// reloaded as FMA memory operands, register copies; its k loop ran ~17% slower than part 0's).
template <class Op, int RW, int RA, int P>
[[gnu::noinline]] void micro_part(const typename Op::WElem* const* w, const typename Op::Act* a, int64_t lda, int64_t kc, float* acc,
                                  bool first, bool last, float* y, int64_t ldy) {
  micro<Op, RW, RA, P>(w, a, lda, kc, acc, first, last, y, ldy);
}

template <class Op, int RW, int RA, int P>
inline void micro(const typename Op::WElem* const* w, const typename Op::Act* a, int64_t lda, int64_t kc, float* acc, bool first,
                  bool last, float* y, int64_t ldy) {
  static_assert(RW * RA + RW + 1 <= Op::kRegisters, "accumulators, weight vectors and an activation vector in registers");
  static_assert(Op::kParts == 1 || Op::kParts == 2, "one vector, or two halves of the order's accumulator");
  using Vec = typename Op::Vec;
  constexpr int kLanes = sizeof(Vec) / 4, kAccFloats = kLanes * Op::kParts;
  Vec c[RW][RA];
#pragma GCC unroll 4
  for (int r = 0; r < RW; r++)
#pragma GCC unroll 6
    for (int i = 0; i < RA; i++) c[r][i] = first ? Op::zero() : Op::load(acc + kAccFloats * (r * RA + i) + kLanes * P);
  // Every part has steps in every pass (kc is a multiple of kStep): told so, GCC keeps AVX2's accumulators in
  // registers instead of copying them through the stack around the loop (~1.5% of its BF16 batches).
  if constexpr (Op::kParts > 1)
    if (kc <= Op::kStep / Op::kParts * P) __builtin_unreachable();
  for (int64_t l = Op::kStep / Op::kParts * P; l < kc; l += Op::kStep) {
#pragma GCC unroll 2
    for (int h = 0; h < Op::kSubSteps; h++) {
      typename Op::WVec wv[RW];
#pragma GCC unroll 4
      for (int r = 0; r < RW; r++) wv[r] = Op::load_w(w[r] + l, h);
#pragma GCC unroll 6
      for (int i = 0; i < RA; i++) {
        const typename Op::AVec av = Op::load_a(a + i * lda + l, h);
#pragma GCC unroll 4
        for (int r = 0; r < RW; r++) c[r][i] = Op::madd(wv[r], av, c[r][i]);
      }
    }
  }
  if constexpr (P + 1 < Op::kParts) {
    for (int r = 0; r < RW; r++)
      for (int i = 0; i < RA; i++) Op::store(acc + kAccFloats * (r * RA + i) + kLanes * P, c[r][i]);
    micro_part<Op, RW, RA, P + 1>(w, a, lda, kc, acc, first, last, y, ldy);
  } else {
    if (last) {
      if constexpr (Op::kParts == 1) {
        reduce_tile<Op, RW, RA>(c, y, ldy);
      } else {
        for (int r = 0; r < RW; r++)
          for (int i = 0; i < RA; i++) y[i * ldy + r] = Op::hsum(Op::add(Op::load(acc + kAccFloats * (r * RA + i)), c[r][i]));
      }
      return;
    }
#pragma GCC unroll 4
    for (int r = 0; r < RW; r++)
#pragma GCC unroll 6
      for (int i = 0; i < RA; i++) Op::store(acc + kAccFloats * (r * RA + i) + kLanes * P, c[r][i]);
  }
}

// Whether Op's steps run in an environment of their own (Op::StepMode not the empty "caller's environment").
// Changing MXCSR costs ~100 cycles a time on Sapphire Rapids (a 3x4 AVX2 tile of one 2048-element pass ran 1.23x
// slower with the change around it than without), so it is held over a sub-band's tiles, not set per tile.
template <class Op>
constexpr bool has_step_mode = !std::is_empty_v<typename Op::StepMode>;

// Whether Op reads its weights from a panel (Op::WElem not the file's uint16_t): Op::to_panel(src, n, dst) writes the
// n elements of a weight row's k slice as n WElems, each element at its own offset (micro reads w[r] + l either way).
// gemm converts a sub-band's rows once per k pass and activation block, and every activation tile of the block reads
// them from L1, instead of each tile decoding the same weights in registers again.
template <class Op>
constexpr bool has_panel = !std::is_same_v<typename Op::WElem, uint16_t>;

// The rw x ra tile's accumulators stored at acc (micro's layout, all parts) reduced into y, as micro's last pass does.
// Two parts (AVX2's Lanes8Acc): their sums eight accumulators at a time (Op::hsums).
template <class Op>
void reduce_stored(const float* acc, int rw, int ra, float* y, int64_t ldy) {
  constexpr int kLanes = sizeof(typename Op::Vec) / 4, kAccFloats = kLanes * Op::kParts;
  if constexpr (Op::kParts == 1) {
    for (int r = 0; r < rw; r++)
      for (int i = 0; i < ra; i++) y[i * ldy + r] = Op::hsum(Op::load(acc + kAccFloats * (r * ra + i)));
  } else {
    typename Op::Vec v[Op::kRW * Op::kRA];
    float sums[Op::kRW * Op::kRA];
    const int n = rw * ra;
    for (int j = 0; j < n; j++) v[j] = Op::add(Op::load(acc + kAccFloats * j), Op::load(acc + kAccFloats * j + kLanes));
    Op::hsums(v, n, sums);
    for (int r = 0; r < rw; r++)
      for (int i = 0; i < ra; i++) y[i * ldy + r] = sums[r * ra + i];
  }
}

template <class Op>
using MicroFn = void (*)(const typename Op::WElem* const*, const typename Op::Act*, int64_t, int64_t, float*, bool, bool, float*, int64_t);

// The RW x ra tile, ra <= RA (only tiles of up to Op::kRA rows are instantiated).
template <class Op, int RW, int RA = Op::kRA>
MicroFn<Op> micro_at(int ra) {
  if constexpr (RA > 1)
    if (ra < RA) return micro_at<Op, RW, RA - 1>(ra);
  return micro<Op, RW, RA>;
}

// The rw x ra tile, rw <= RW.
template <class Op, int RW = Op::kRW>
MicroFn<Op> micro_for(int rw, int ra) {
  if constexpr (RW > 1)
    if (rw < RW) return micro_for<Op, RW - 1>(rw, ra);
  return micro_at<Op, RW>(ra);
}

// Part i of n splitting `total` as evenly as possible (the first total % n parts one larger).
inline int even_share(int total, int n, int i) { return total / n + (i < total % n); }

// n elements of a thread's scratch store starting at a cache line (vector loads never split one); grows store.
template <typename T>
T* line_aligned(std::vector<T>& store, size_t n) {
  constexpr size_t kLine = 64 / sizeof(T);
  if (store.size() < n + kLine) store.resize(n + kLine);
  return store.data() + (kLine - reinterpret_cast<uintptr_t>(store.data()) / sizeof(T) % kLine) % kLine;
}

// t's band of weight rows (k % Op::kStep == 0) against its n_act activation rows `act` (row stride t.k).
template <class Op>
void gemm(const TileArgs& t, const typename Op::Act* act) {
  using WElem = typename Op::WElem;
  const int64_t k = t.k;
  constexpr int kRW = Op::kRW, kRA = Op::kRA, kSubRows = kSubTiles * kRW, kLanes = sizeof(typename Op::Vec) / 4 * Op::kParts;
  constexpr bool kDefer = has_step_mode<Op>, kPanel = has_panel<Op>;
  const int64_t kc = std::min(k, Op::kKc);
  // A block's rows hold kActBlockBytes of a pass's slice (read kRW weight rows at a time). A panel Op's short passes
  // read each activation tile once per sub-band and its block's conversions of the weights are the cost of a smaller
  // block: its block holds kActBlockBytes of a kPanelBlockK slice.
  const int64_t k_block = kPanel ? std::min(k, kPanelBlockK) : kc;
  const int mb_max = std::max<int>(kRA, int(kActBlockBytes / (size_t(k_block) * sizeof(typename Op::Act))) / kRA * kRA);
  thread_local std::vector<float> accs;  // kLanes floats per accumulator (all its parts)
  if ((k > kc || Op::kParts > 1 || kDefer) && accs.size() < size_t(mb_max) * kSubRows * kLanes) accs.resize(size_t(mb_max) * kSubRows * kLanes);
  // kPanel: a sub-band's rows of a k pass, kc apart, from a cache line (vector loads never split one).
  thread_local std::vector<WElem> panel_store;
  WElem* const panel = kPanel ? line_aligned(panel_store, size_t(kSubRows) * size_t(kc)) : nullptr;
  auto file_row = [&](int r) { return reinterpret_cast<const uint16_t*>(t.w + size_t(r) * t.wrow); };
  const int n_blocks = (t.n_act + mb_max - 1) / mb_max;
  for (int b = 0, m0 = 0, mb; b < n_blocks; b++, m0 += mb) {
    mb = even_share(t.n_act, n_blocks, b);
    const int n_tiles = (mb + kRA - 1) / kRA;
    // The sub-band [s0, s1)'s tiles of weight rows, rows(r0, rw), and the block's activation tiles, acts(a0, ra).
    auto row_tiles = [&](int s0, int s1, auto&& rows) {
      for (int r0 = s0; r0 < s1; r0 += kRW) rows(r0, std::min(kRW, t.nw - r0));
    };
    auto act_tiles = [&](auto&& acts) {
      for (int i = 0, a0 = 0, ra; i < n_tiles; i++, a0 += ra) acts(a0, ra = even_share(mb, n_tiles, i));
    };
    // Tile (r0, a0)'s accumulators in accs: a sub-band's row tile holds mb_max rows' worth.
    auto acc_at = [&](int s0, int r0, int a0) { return accs.data() + (size_t((r0 - s0) / kRW) * size_t(mb_max) + size_t(a0)) * kRW * kLanes; };
    for (int s0 = 0; s0 < t.nw; s0 += kSubRows) {
      const int s1 = std::min(t.nw, s0 + kSubRows);
      {
        [[maybe_unused]] const typename Op::StepMode mode;
        for (int64_t k0 = 0; k0 < k; k0 += kc) {
          const int64_t kl = std::min(kc, k - k0);
          auto tile = [&](int r0, int rw, int a0, int ra) {
            const WElem* wk[kRW];
            for (int r = 0; r < kRW; r++) {
              const int row = r0 + std::min(r, rw - 1);
              if constexpr (kPanel) wk[r] = panel + size_t(row - s0) * size_t(kc);
              else wk[r] = file_row(row) + k0;
            }
            micro_for<Op>(rw, ra)(wk, act + size_t(m0 + a0) * size_t(k) + size_t(k0), k, kl, acc_at(s0, r0, a0), k0 == 0,
                                  !kDefer && k0 + kl == k, t.y + int64_t(m0 + a0) * t.ldy + r0, t.ldy);
          };
          if constexpr (kPanel) {
            // The sub-band's rows converted once for the block, then an activation tile at a time against all of
            // them: its kRA rows of the pass (from L2) are read by every row tile from L1, as is the panel.
            for (int r = s0; r < s1; r++) Op::to_panel(file_row(r) + k0, kl, panel + size_t(r - s0) * size_t(kc));
            // The next pass's rows (this sub-band's next k slice, else the next sub-band's first) asked for into L2,
            // a few lines before each tile: read from memory by the conversion alone, their latency showed (Llama-1B's
            // rows against 128 activation rows, weights from memory: ~1.1x with the prefetches); asked for in bursts,
            // the prefetches waited for fill buffers.
            const bool next_slice = k0 + kc < k;
            const int p0 = next_slice ? s0 : s1;
            const int64_t pk0 = next_slice ? k0 + kc : 0;
            const int p1 = std::min(t.nw, p0 + kSubRows);
            const int64_t row_lines = (std::min(kc, k - pk0) * int64_t(sizeof(uint16_t)) + 63) / 64 + 1;
            const int64_t lines = int64_t(std::max(0, p1 - p0)) * row_lines, calls = int64_t(n_tiles) * ((s1 - s0 + kRW - 1) / kRW);
            int64_t asked = 0, line = 0, call = 0;
            int row = p0;
            act_tiles([&](int a0, int ra) {
              row_tiles(s0, s1, [&](int r0, int rw) {
                for (const int64_t upto = lines * ++call / calls; asked < upto; asked++) {
                  _mm_prefetch(reinterpret_cast<const char*>(file_row(row) + pk0) + 64 * line, _MM_HINT_T1);
                  if (++line == row_lines) line = 0, row++;
                }
                tile(r0, rw, a0, ra);
              });
            });
          } else {
            // A row tile's kRW rows of the pass (in L1) against every activation tile of the block (from L2).
            row_tiles(s0, s1, [&](int r0, int rw) { act_tiles([&](int a0, int ra) { tile(r0, rw, a0, ra); }); });
          }
        }
      }
      if constexpr (kDefer)
        row_tiles(s0, s1, [&](int r0, int rw) {
          act_tiles([&](int a0, int ra) { reduce_stored<Op>(acc_at(s0, r0, a0), rw, ra, t.y + int64_t(m0 + a0) * t.ldy + r0, t.ldy); });
        });
    }
  }
}

// Bytes of a band's weight rows (the whole k range) that gemm_act_panel keeps in L2 while every activation tile runs
// against them: half the core's L2 (Sapphire Rapids' 2 MB: 1 MB bands ran up to 1.2x faster than 256 KB ones on
// Llama-1B's 8192-wide rows, and even on its 2048-wide ones), 512 KB where the L2 is unknown.
inline size_t weight_band_bytes() {
  const long l2 = cpu_features().l2_bytes;
  return l2 > 0 ? size_t(l2) / 2 : size_t(512) << 10;
}

// t's band of weight rows against its n_act f16 activation rows `act` (row stride t.k), for an Op whose activations
// micro reads as an f32 panel (Op::Act): Op::to_act_panel(src, n, dst) widens n f16 elements (exactly). The converse
// of gemm's blocking: an activation tile's kRA rows of a k pass are widened once into a panel that stays in L1, and
// every weight row tile of the band (weight_band_bytes(), in L2) runs against it, so the tile's loop converts only its
// kRW weight vectors per step (AVX-512 F16: vcvtph2ps takes two FMA slots on Sapphire Rapids). Each band's weights come
// from memory once per call. With several passes the band's accumulators for the tile are stored between them (L2).
template <class Op>
void gemm_act_panel(const TileArgs& t, const uint16_t* act) {
  const int64_t k = t.k;
  constexpr int kRW = Op::kRW, kRA = Op::kRA, kAccFloats = kRW * kRA * int(sizeof(typename Op::Vec) / 4);
  const int64_t kc = std::min(k, Op::kKc);
  const int band = std::max(kRW, int(weight_band_bytes() / (size_t(k) * sizeof(uint16_t))) / kRW * kRW);
  thread_local std::vector<float> accs;  // a tile's kAccFloats per row tile of the band
  if (k > kc && accs.size() < size_t(band / kRW) * kAccFloats) accs.resize(size_t(band / kRW) * kAccFloats);
  // The panel's rows kc apart, from a cache line.
  thread_local std::vector<float> panel_store;
  float* const panel = line_aligned(panel_store, size_t(kRA) * size_t(kc));
  auto file_row = [&](int r) { return reinterpret_cast<const uint16_t*>(t.w + size_t(r) * t.wrow); };
  const int n_tiles = (t.n_act + kRA - 1) / kRA;
  for (int s0 = 0; s0 < t.nw; s0 += band) {
    const int s1 = std::min(t.nw, s0 + band);
    for (int i = 0, a0 = 0, ra; i < n_tiles; i++, a0 += ra) {
      ra = even_share(t.n_act, n_tiles, i);
      for (int64_t k0 = 0; k0 < k; k0 += kc) {
        const int64_t kl = std::min(kc, k - k0);
        for (int j = 0; j < ra; j++) Op::to_act_panel(act + size_t(a0 + j) * size_t(k) + size_t(k0), kl, panel + size_t(j) * size_t(kc));
        for (int r0 = s0; r0 < s1; r0 += kRW) {
          const int rw = std::min(kRW, s1 - r0);
          const uint16_t* wk[kRW];
          for (int r = 0; r < kRW; r++) wk[r] = file_row(r0 + std::min(r, rw - 1)) + k0;
          float* const acc = k > kc ? accs.data() + size_t((r0 - s0) / kRW) * kAccFloats : nullptr;  // one pass: unused
          micro_for<Op>(rw, ra)(wk, panel, kc, kl, acc, k0 == 0, k0 + kl == k, t.y + int64_t(a0) * t.ldy + r0, t.ldy);
        }
      }
    }
  }
}

}  // namespace tinyblas
}  // namespace IR_SIMD_NS
}  // namespace ir
