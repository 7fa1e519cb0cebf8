// AVX2 kernels for Q4_K, Q5_K and Q6_K weights against several activation rows: a batched decode step (each
// sequence's token) or a prefill batch. Q4_K from kLaneMinRows rows takes the lanes kernel at the end of this file
// (weight rows in float lanes, decoded once). The rest take rows_pass (activation rows in float lanes): each weight
// super-block is decoded in registers, one 32-weight run at a time, and every run meets all the rows of a pass (up
// to kPassRows) before the next is decoded, and Q4_K's per-super-block tail (its integer reduction, the mins and
// the two fused multiply-adds) runs for all rows of the pass at once. (tile_simd.cc's generic K-quant tile, which
// these types took before, unpacks four rows into a scratch, reloads every level, its scale and its sign for each
// activation row, and ends every super-block, or every 64 weights of Q4_K's batched order, with scalar sums and
// fused multiply-adds per pair.)
//
// Per (weight row, activation row) pair the arithmetic is the single-row kernels' (tile_simd.cc) and the AVX-512
// variant's (tile_ksuper_batch.cc), so every output has the bits of llama.cpp's zen4 kernels: the integer sums are exact
// whatever the instruction order (maddubs pairs of unsigned levels by signed activations, at most 2·63·128, then
// madd by the scales), and the float operations are the same ones in the same order:
//   Q4_K (single-row order, ggml_gemv_q4_K_8x8_q8_K): per super-block seq = fma(float(isum), d·da, seq),
//        msum = fma(float(mins), dmin·da, msum); the output is seq - msum;
//   Q4_K with t.gemm_order (batched order, ggml_gemm_q4_K_8x8_q8_K): the same two fused multiply-adds per 64
//        weights (sub-blocks 2p, 2p+1) instead of per super-block;
//   Q5_K (ggml_vec_dot order): 8 float lanes per pair, lane m = fma(d·da, float(isum8_m), lane m) per super-block,
//        msum = fma(dmin·da, float(mins), msum); the output is hsum(lanes) - msum;
//   Q6_K (ggml_vec_dot order): the lanes as Q5_K's of isum8_m - 32·offset_m; the output is hsum(lanes) - 0.
#include "intrinsics.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../ggml_types.h"
#include "kernel_variants.h"
#include "quants.h"
#include "simd_sums.h"

namespace ir {
namespace avx2 {
namespace {

constexpr int kPassRows = 8;  // activation rows per pass: one per float lane of a 256-bit vector

// The activation side of one super-block for a pass: the rows' scales, the 32-element sums in int16 pairs for
// Q4_K/Q5_K's mins (int32 lane i of pair p: row i's sums of sub-blocks 2p and 2p+1, for one madd against the pair
// of mins) and Q6_K's 16-element sums.
struct alignas(32) PassSb {
  float d[kPassRows];
  int32_t bsum_pairs[4][kPassRows];
  int16_t bsums[kPassRows][16];
};

// A pass's rows laid out for rows_pass: quants interleaved per super-block and 32-element run ([s][run][row][32
// bytes]: fixed offsets from one pointer, where eight row pointers would take the general registers), and PassSb.
struct alignas(32) Run32 { int8_t b[32]; };
struct PassActs {
  std::vector<PassSb> sb;
  std::vector<Run32> qs;
};

void pass_prepare(const block_q8_K* act, int n, int64_t nsb, PassActs& a) {
  a.sb.assign(size_t(nsb), PassSb{});
  a.qs.resize(size_t(nsb) * 8 * size_t(n));
  for (int m = 0; m < n; m++)
    for (int64_t s = 0; s < nsb; s++) {
      const block_q8_K& B = act[size_t(m) * size_t(nsb) + size_t(s)];
      for (int j = 0; j < 8; j++) std::memcpy(a.qs[(size_t(s) * 8 + size_t(j)) * size_t(n) + size_t(m)].b, B.qs + 32 * j, 32);
      PassSb& A = a.sb[size_t(s)];
      A.d[m] = B.d;
      for (int p = 0; p < 4; p++) {
        const int lo = B.bsums[4 * p] + B.bsums[4 * p + 1], hi = B.bsums[4 * p + 2] + B.bsums[4 * p + 3];
        A.bsum_pairs[p][m] = int32_t(uint16_t(int16_t(lo))) | int32_t(uint32_t(uint16_t(int16_t(hi))) << 16);
      }
      std::memcpy(A.bsums[m], B.bsums, sizeof(A.bsums[m]));
    }
}

// Per row (int32 lane i): Σ min_j · (32-element sum j) over the sub-blocks of the pairs [p0, p1) of a Q4_K/Q5_K
// super-block; int32 lane p of mins16 (the mins as int16) is the pair (min 2p, min 2p+1).
inline __m256i pair_mins(__m256i mins16, const PassSb& A, int p0, int p1) {
  __m256i mins = _mm256_setzero_si256();
  for (int p = p0; p < p1; p++)
    mins = _mm256_add_epi32(mins, _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(A.bsum_pairs[p])),
                                                    _mm256_permutevar8x32_epi32(mins16, _mm256_set1_epi32(p))));
  return mins;
}

// An empty barrier that keeps the sums in registers as they are: without it GCC 12 moved the adds of a
// super-block's eight runs after all their 8·N products, which it kept on the stack (Q6_K at N = 8: 64 stores and
// reloads per super-block).
template <int N>
[[gnu::always_inline]] inline void in_registers(__m256i (&v)[N]) {
  for (int i = 0; i < N; i++) asm("" : "+x"(v[i]));
}

// One weight row against the N rows of a pass: y[i * ldy] = row i's output.
template <int kType, bool kPer64, int N>
void rows_pass(const uint8_t* row, int64_t nsb, const int8_t* qs, const PassSb* asb, float* y, int64_t ldy) {
  static_assert(!kPer64 || kType == GGML_Q4_K);
  constexpr bool kFive = kType == GGML_Q5_K;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  auto act = [&](int64_t s, int j, int i) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(qs + ((size_t(s) * 8 + size_t(j)) * N + size_t(i)) * 32));
  };
  // Q4_K: one float lane per row; Q5_K/Q6_K: eight per row in acc, and Q5_K's mins one per row in msum.
  __m256 seq = _mm256_setzero_ps(), msum = _mm256_setzero_ps();
  __m256 acc[kType == GGML_Q4_K ? 1 : N];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int64_t s = 0; s < nsb; s++) {
    const PassSb& A = asb[s];
    __m256i isum[N];
    for (int i = 0; i < N; i++) isum[i] = _mm256_setzero_si256();
    if constexpr (kType == GGML_Q6_K) {
      const auto& B = reinterpret_cast<const block_q6_K*>(row)[s];
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.scales)));
#pragma GCC unroll 8
      for (int j = 0; j < 8; j++) {  // run j = 4·half + g: a nibble of ql and bits 2g, 2g+1 of qh (llama.cpp's layout)
        const int half = j / 4, g = j % 4;
        const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.ql + 64 * half + 32 * (g % 2)));
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.qh + 32 * half));
        const __m256i nib = g < 2 ? _mm256_and_si256(l, low4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), low4);
        const __m256i levels = _mm256_or_si256(nib, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * g), _mm256_set1_epi8(3)), 4));
        // int16 lanes 0..7: scale 2j (elements 0..15 of the run), 8..15: scale 2j+1.
        const __m256i pair = _mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(j));
        const __m256i scale = _mm256_shuffle_epi8(pair, _mm256_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2,
                                                                        1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0));
        for (int i = 0; i < N; i++) isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(_mm256_maddubs_epi16(levels, act(s, j, i)), scale));
        in_registers(isum);
      }
      const float d = _cvtsh_ss(B.d);
      for (int i = 0; i < N; i++) {
        // The levels' -32 per lane: 32·(bsums 2m, 2m+1 · scales 2m, 2m+1), as the single-row kernel takes it off.
        const __m256i offset = _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(A.bsums[i])), sc16);
        const __m256i sum = _mm256_sub_epi32(isum[i], _mm256_slli_epi32(offset, 5));
        acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(d * A.d[i]), _mm256_cvtepi32_ps(sum), acc[i]);
      }
    } else {
      const uint8_t* blk = row + size_t(s) * (kFive ? sizeof(block_q5_K) : sizeof(block_q4_K));
      const auto* b4 = reinterpret_cast<const block_q4_K*>(blk);
      const uint8_t* q = kFive ? reinterpret_cast<const block_q5_K*>(blk)->qs : b4->qs;
      uint32_t u[4];  // scales 0..7 as bytes of u[0..1], mins of u[2..3]
      k4_scales_mins(b4->scales, u);
      const __m256i sc8 = _mm256_set1_epi64x(int64_t(uint64_t(u[0]) | (uint64_t(u[1]) << 32)));
      const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_set_epi32(0, 0, int(u[3]), int(u[2])));
      const __m256i h = kFive ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(reinterpret_cast<const block_q5_K*>(blk)->qh)) : __m256i{};
      const __m256 ad = _mm256_load_ps(A.d);
      const __m256 dd = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b4->d)), ad), dm = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b4->dmin)), ad);
#pragma GCC unroll 8
      for (int j = 0; j < 8; j++) {  // run j: low nibbles of qs[32·(j/2) ..] for even j, high nibbles for odd
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * (j / 2)));
        __m256i levels = j % 2 == 0 ? _mm256_and_si256(v, low4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        if constexpr (kFive)  // bit j of each qh byte as bit 4 of its level (16-bit shifts keep it in its byte)
          levels = _mm256_or_si256(levels, _mm256_and_si256(j <= 4 ? _mm256_slli_epi16(h, 4 - j) : _mm256_srli_epi16(h, j - 4), _mm256_set1_epi8(0x10)));
        // Scale j zero-extended into every int16 lane (a byte shuffle: the high byte's index has its top bit set).
        const __m256i scale = _mm256_shuffle_epi8(sc8, _mm256_set1_epi16(short(0xFF00 | j)));
        for (int i = 0; i < N; i++) isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(_mm256_maddubs_epi16(levels, act(s, j, i)), scale));
        in_registers(isum);
        if (kPer64 && j % 2 == 1) {  // the batched order's two steps after sub-blocks j-1, j (pair j/2)
          seq = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lane_sums<N>(isum)), dd, seq);
          for (int i = 0; i < N; i++) isum[i] = _mm256_setzero_si256();
          msum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pair_mins(mins16, A, j / 2, j / 2 + 1)), dm, msum);
        }
      }
      if constexpr (kFive) {
        const float d = _cvtsh_ss(b4->d);
        for (int i = 0; i < N; i++) acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(d * A.d[i]), _mm256_cvtepi32_ps(isum[i]), acc[i]);
        msum = _mm256_fmadd_ps(dm, _mm256_cvtepi32_ps(pair_mins(mins16, A, 0, 4)), msum);
      } else if constexpr (!kPer64) {
        seq = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lane_sums<N>(isum)), dd, seq);
        msum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pair_mins(mins16, A, 0, 4)), dm, msum);
      }
    }
  }
  store_pass_outputs<kType == GGML_Q4_K, N>(seq, msum, acc, y, ldy);
}

using PassFn = void (*)(const uint8_t*, int64_t, const int8_t*, const PassSb*, float*, int64_t);

template <int kType, bool kPer64>
PassFn pass_for(int n) {
  const PassFn table[] = {rows_pass<kType, kPer64, 1>, rows_pass<kType, kPer64, 2>, rows_pass<kType, kPer64, 3>, rows_pass<kType, kPer64, 4>,
                          rows_pass<kType, kPer64, 5>, rows_pass<kType, kPer64, 6>, rows_pass<kType, kPer64, 7>, rows_pass<kType, kPer64, 8>};
  return table[n - 1];
}

// Up to this many passes (a decode step's rows), each weight row meets all of them in turn: it streams from memory
// once and the later passes read it from L1, while their activations (k bytes per row) come from L1/L2.
constexpr int kRowOuterPasses = 4;
// More passes (prefill): weight rows in blocks of about this many bytes, which stay in L2 while every pass runs over
// them, one pass at a time so that its activations stay in L1 (with each weight row meeting every pass in turn, a
// 128-row chunk's activations, 256 KB at 2048 columns, would stream from L2 for every weight row).
constexpr size_t kBlockBytes = size_t(256) << 10;

template <int kType, bool kPer64>
void tile_rows(const TileArgs& t) {
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  // Passes as even as can be (12 rows: 6 + 6, not 8 + 4): a pass's fixed work per super-block is shared by its rows.
  const int passes = (t.n_act + kPassRows - 1) / kPassRows;
  thread_local std::vector<PassActs> acts;
  thread_local std::vector<PassFn> fns;
  thread_local std::vector<int> m0;
  if (acts.size() < size_t(passes)) acts.resize(size_t(passes));
  fns.resize(size_t(passes));
  m0.resize(size_t(passes));
  for (int p = 0, m = 0; p < passes; p++) {
    const int n = (t.n_act - m) / (passes - p);
    m0[size_t(p)] = m;
    fns[size_t(p)] = pass_for<kType, kPer64>(n);
    pass_prepare(act + size_t(m) * size_t(nsb), n, nsb, acts[size_t(p)]);
    m += n;
  }
  auto run = [&](int p, int r) {
    fns[size_t(p)](t.w + size_t(r) * t.wrow, nsb, acts[size_t(p)].qs.data()->b, acts[size_t(p)].sb.data(), t.y + int64_t(m0[size_t(p)]) * t.ldy + r, t.ldy);
  };
  // Each weight row streams from memory once, prefetched 2 KB or two rows ahead by the first pass that reads it.
  const size_t ahead = std::max<size_t>(2048, 2 * t.wrow);
  auto prefetch = [&](int r) {
    const uint8_t* row = t.w + size_t(r) * t.wrow;
    prefetch_lines<3>(row + ahead, t.wrow);
  };
  const int block = passes <= kRowOuterPasses ? 1 : std::max(1, int(kBlockBytes / t.wrow));
  for (int r0 = 0; r0 < t.nw; r0 += block) {
    const int r1 = std::min(t.nw, r0 + block);
    if (block == 1) {
      prefetch(r0);
      for (int p = 0; p < passes; p++) run(p, r0);
      continue;
    }
    for (int p = 0; p < passes; p++)
      for (int r = r0; r < r1; r++) {
        if (p == 0) prefetch(r);
        run(p, r);
      }
  }
}

// ---- Q4_K with weight rows in lanes (prefill) ----------------------------------------------------------------
// With one activation row per float lane (rows_pass), every 64 weights of Q4_K's batched order end in a horizontal
// reduction of eight int32 vectors per pass (~21 shuffles and adds) beside the 48 multiply-adds they sum, and every
// pass decodes the weights again. Many activation rows instead meet groups of 8 weight rows decoded once into an L1
// scratch with the rows interleaved per 4 elements (llama.cpp's repacked q4_K 8x8 layout): a broadcast of 4
// activation bytes against one 32-byte vector gives each weight row's 4 products in its own int32 lane, so the
// float steps run per lane = per weight row with no reduction at all. Q4_K's |maddubs| <= 2·15·128 = 3840, so a
// 32-element run's eight vectors sum exactly in int16 (<= 30720) before one madd by the run's scales.
constexpr int kLaneRows = 8;
// Activation rows per lane_rows call: each level vector loaded serves both (3 and 4 measured 0.85-0.95x of 2: spills).
constexpr int kLaneActs = 2;
// From this many activation rows a tile takes the lanes kernel (one thread, 2048x8192 and 8192x2048: 1.15-1.35x the
// GMAC per CPU-second of rows_pass at 16-32 rows, mixed below).
constexpr int kLaneMinRows = 16;
struct alignas(32) LaneSb {  // one super-block of a group of kLaneRows weight rows
  uint8_t levels[64][kLaneRows][4];  // [g][w]: levels of elements 4g..4g+3 of row w
  int16_t scales[8][2 * kLaneRows];  // run j: int16 lanes 2w, 2w+1 = scale j of row w
  int16_t mins[4][2 * kLaneRows];    // pair p: int16 lanes 2w, 2w+1 = mins 2p, 2p+1 of row w
  float d[kLaneRows], dmin[kLaneRows];
};

// v[w] (8 int32 lanes each) transposed: v[g] lane w = old v[w] lane g.
inline void transpose8x32(__m256i (&v)[8]) {
  __m256i t[8], u[8];
  for (int q = 0; q < 4; q++) {
    t[2 * q] = _mm256_unpacklo_epi32(v[2 * q], v[2 * q + 1]);
    t[2 * q + 1] = _mm256_unpackhi_epi32(v[2 * q], v[2 * q + 1]);
  }
  for (int h = 0; h < 2; h++)  // rows 4h .. 4h+3: u[4h + g] lanes 0..3 (and 4..7) = those rows' dword g (and g + 4)
    for (int q = 0; q < 2; q++) {
      u[4 * h + 2 * q] = _mm256_unpacklo_epi64(t[4 * h + q], t[4 * h + 2 + q]);
      u[4 * h + 2 * q + 1] = _mm256_unpackhi_epi64(t[4 * h + q], t[4 * h + 2 + q]);
    }
  for (int g = 0; g < 4; g++) {
    v[g] = _mm256_permute2x128_si256(u[g], u[4 + g], 0x20);
    v[g + 4] = _mm256_permute2x128_si256(u[g], u[4 + g], 0x31);
  }
}

// Weight rows [0, n) (n <= kLaneRows) of a band from `row`, all super-blocks, into out[nsb]; lanes past n are zero.
void lane_decode(const uint8_t* row, size_t wrow, int n, int64_t nsb, LaneSb* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  auto block = [&](int w, int64_t s) { return reinterpret_cast<const block_q4_K*>(row + size_t(w) * wrow) + s; };
  for (int64_t s = 0; s < nsb; s++) {
    LaneSb& L = out[s];
    uint64_t sc[kLaneRows], mn[kLaneRows];  // per row: scales 0..7 and mins 0..7 as bytes
    for (int w = 0; w < kLaneRows; w++) {
      uint32_t u[4] = {0, 0, 0, 0};
      if (w < n) k4_scales_mins(block(w, s)->scales, u);
      sc[w] = uint64_t(u[0]) | (uint64_t(u[1]) << 32);
      mn[w] = uint64_t(u[2]) | (uint64_t(u[3]) << 32);
      L.d[w] = w < n ? _cvtsh_ss(block(w, s)->d) : 0.0f;
      L.dmin[w] = w < n ? _cvtsh_ss(block(w, s)->dmin) : 0.0f;
    }
    // Rows (0, 1 | 4, 5) and (2, 3 | 6, 7) as qwords per 128-bit lane: one in-lane byte shuffle of each puts byte b of
    // a row's qword into int32 lane w (w % 4 within the 128-bit lane w / 4) as the int16 pair wanted.
    auto pairs_of = [](const uint64_t (&q)[kLaneRows], int lo, int hi) {  // int32 lane w = (byte lo, byte hi) of row w
      const __m256i x = _mm256_set_epi64x(int64_t(q[5]), int64_t(q[4]), int64_t(q[1]), int64_t(q[0]));
      const __m256i y = _mm256_set_epi64x(int64_t(q[7]), int64_t(q[6]), int64_t(q[3]), int64_t(q[2]));
      const char z = char(0x80), l0 = char(lo), h0 = char(hi), l1 = char(8 + lo), h1 = char(8 + hi);
      const __m256i px = _mm256_setr_epi8(l0, z, h0, z, l1, z, h1, z, z, z, z, z, z, z, z, z, l0, z, h0, z, l1, z, h1, z, z, z, z, z, z, z, z, z);
      const __m256i py = _mm256_setr_epi8(z, z, z, z, z, z, z, z, l0, z, h0, z, l1, z, h1, z, z, z, z, z, z, z, z, z, l0, z, h0, z, l1, z, h1, z);
      return _mm256_or_si256(_mm256_shuffle_epi8(x, px), _mm256_shuffle_epi8(y, py));
    };
    for (int j = 0; j < 8; j++) _mm256_store_si256(reinterpret_cast<__m256i*>(L.scales[j]), pairs_of(sc, j, j));
    for (int p = 0; p < 4; p++) _mm256_store_si256(reinterpret_cast<__m256i*>(L.mins[p]), pairs_of(mn, 2 * p, 2 * p + 1));
    for (int c = 0; c < 4; c++) {  // runs 2c (low nibbles) and 2c+1 (high)
      // The stored bytes transposed once (v[g] lane w: row w's bytes 4g..4g+3), then split into both runs' levels.
      __m256i v[kLaneRows];
      for (int w = 0; w < kLaneRows; w++)
        v[w] = w < n ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block(w, s)->qs + 32 * c)) : _mm256_setzero_si256();
      transpose8x32(v);
      for (int g = 0; g < 8; g++) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(L.levels[8 * (2 * c) + g]), _mm256_and_si256(v[g], low4));
        _mm256_store_si256(reinterpret_cast<__m256i*>(L.levels[8 * (2 * c + 1) + g]), _mm256_and_si256(_mm256_srli_epi16(v[g], 4), low4));
      }
    }
  }
}

inline __m256i bcast32(const void* p) { return _mm256_castps_si256(_mm256_broadcast_ss(static_cast<const float*>(p))); }

// A group's 8 weight rows against activation rows arow[0..MA): out[i] lane w = row w's output for activation row i.
// Per (weight row, activation row) pair the float steps of rows_pass (Q4_K), lane by lane: seq = fma(float(isum),
// d·da, seq), msum = fma(float(mins), dmin·da, msum) per super-block (kPer64: per 64 weights), out = seq - msum.
// pairs[i]: activation row i's int16 pairs of 32-element sums, 4 per super-block (PassSb::bsum_pairs' numbers).
template <bool kPer64, int MA>
[[gnu::always_inline]] inline void lane_rows(const LaneSb* W, int64_t nsb, const block_q8_K* const* arow, const int32_t* const* pairs, __m256* out) {
  __m256 seq[MA], msum[MA];
  for (int i = 0; i < MA; i++) seq[i] = msum[i] = _mm256_setzero_ps();
  for (int64_t s = 0; s < nsb; s++) {
    const LaneSb& B = W[s];
    __m256 dd[MA], dm[MA];
    __m256i isum[MA];
    for (int i = 0; i < MA; i++) {
      const __m256 da = _mm256_broadcast_ss(&arow[i][s].d);
      dd[i] = _mm256_mul_ps(_mm256_load_ps(B.d), da);
      dm[i] = _mm256_mul_ps(_mm256_load_ps(B.dmin), da);
      isum[i] = _mm256_setzero_si256();
    }
    auto mins_of = [&](int i, int p0, int p1) {
      __m256i m = _mm256_setzero_si256();
      for (int p = p0; p < p1; p++)
        m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(B.mins[p])), bcast32(pairs[i] + 4 * s + p)));
      return m;
    };
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
      __m256i acc16[MA];
#pragma GCC unroll 8
      for (int g = 0; g < 8; g++) {
        const __m256i lv = _mm256_load_si256(reinterpret_cast<const __m256i*>(B.levels[8 * j + g]));
        for (int i = 0; i < MA; i++) {
          const __m256i p = _mm256_maddubs_epi16(lv, bcast32(arow[i][s].qs + 32 * j + 4 * g));
          acc16[i] = g == 0 ? p : _mm256_add_epi16(acc16[i], p);
        }
      }
      const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(B.scales[j]));
      for (int i = 0; i < MA; i++) isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(acc16[i], sc));
      if (kPer64 && j % 2 == 1)
        for (int i = 0; i < MA; i++) {
          seq[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]), dd[i], seq[i]);
          isum[i] = _mm256_setzero_si256();
          msum[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins_of(i, j / 2, j / 2 + 1)), dm[i], msum[i]);
        }
    }
    if constexpr (!kPer64)
      for (int i = 0; i < MA; i++) {
        seq[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]), dd[i], seq[i]);
        msum[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins_of(i, 0, 4)), dm[i], msum[i]);
      }
  }
  for (int i = 0; i < MA; i++) out[i] = _mm256_sub_ps(seq[i], msum[i]);
}

template <bool kPer64>
void lane_tile(const TileArgs& t) {
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  thread_local std::vector<int32_t> pair_sums;  // [m][s][p]
  pair_sums.resize(size_t(t.n_act) * size_t(nsb) * 4);
  for (int m = 0; m < t.n_act; m++)
    for (int64_t s = 0; s < nsb; s++) {
      const block_q8_K& B = act[size_t(m) * size_t(nsb) + size_t(s)];
      for (int p = 0; p < 4; p++) {
        const int lo = B.bsums[4 * p] + B.bsums[4 * p + 1], hi = B.bsums[4 * p + 2] + B.bsums[4 * p + 3];
        pair_sums[(size_t(m) * size_t(nsb) + size_t(s)) * 4 + size_t(p)] = int32_t(uint16_t(int16_t(lo))) | int32_t(uint32_t(uint16_t(int16_t(hi))) << 16);
      }
    }
  thread_local std::vector<LaneSb> dec;
  dec.resize(size_t(nsb));
  for (int r0 = 0; r0 < t.nw; r0 += kLaneRows) {
    const int n = std::min(kLaneRows, t.nw - r0);
    lane_decode(t.w + size_t(r0) * t.wrow, t.wrow, n, nsb, dec.data());
    // The next group's rows (contiguous) into L2 while this group's passes run, each pass a share of their lines in
    // proportion to its activation rows: read by lane_decode alone, in groups of 8 rows of 1-5 KB each, they were
    // too short for the hardware prefetcher (perf: most of lane_decode's samples, ~13% of a 16-sequence Llama-1B
    // step, on the instruction after a row's load).
    const int next_rows = std::max(0, std::min(kLaneRows, t.nw - r0 - kLaneRows));
    const uint8_t* next = t.w + size_t(r0 + (next_rows > 0 ? kLaneRows : 0)) * t.wrow;
    const size_t next_lines = (size_t(next_rows) * t.wrow + 63) / 64;
    auto prefetch_next = [&](int m0, int m1) {
      const size_t l0 = next_lines * size_t(m0) / size_t(t.n_act), l1 = next_lines * size_t(m1) / size_t(t.n_act);
      prefetch_lines<2>(next + 64 * l0, 64 * (l1 - l0));
    };
    auto store = [&](int m, __m256 v) {
      float* y = t.y + int64_t(m) * t.ldy + r0;
      if (n == kLaneRows) return _mm256_storeu_ps(y, v);
      alignas(32) float o[kLaneRows];
      _mm256_store_ps(o, v);
      std::memcpy(y, o, sizeof(float) * size_t(n));
    };
    act_passes<kLaneActs>(t.n_act, [&](auto na, int m) {
      constexpr int MA = decltype(na)::value;
      const block_q8_K* rows[MA];
      const int32_t* pairs[MA];
      for (int i = 0; i < MA; i++) {
        rows[i] = act + size_t(m + i) * size_t(nsb);
        pairs[i] = &pair_sums[size_t(m + i) * size_t(nsb) * 4];
      }
      __m256 out[MA];
      prefetch_next(m, m + MA);
      lane_rows<kPer64, MA>(dec.data(), nsb, rows, pairs, out);
      for (int i = 0; i < MA; i++) store(m + i, out[i]);
    });
  }
}

}  // namespace

bool ksuper_rows_applies(const TileArgs& t) {
  return (t.wtype == GGML_Q4_K || t.wtype == GGML_Q5_K || t.wtype == GGML_Q6_K) && t.n_act >= 1;
}

void tile_ksuper_rows(const TileArgs& t) {
  switch (t.wtype) {
    case GGML_Q4_K:
      if (t.n_act >= kLaneMinRows) return t.gemm_order ? lane_tile<true>(t) : lane_tile<false>(t);
      return t.gemm_order ? tile_rows<GGML_Q4_K, true>(t) : tile_rows<GGML_Q4_K, false>(t);
    case GGML_Q5_K: return tile_rows<GGML_Q5_K, false>(t);
    default: return tile_rows<GGML_Q6_K, false>(t);
  }
}

}  // namespace avx2
}  // namespace ir
