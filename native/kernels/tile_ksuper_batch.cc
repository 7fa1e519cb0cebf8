// AVX-512 kernels for Q4_K, Q5_K and Q6_K weights against several activation rows (prefill, batched decode).
// Each weight super-block is decoded into four 64-level vectors and the four 16-bit scale vectors that weight
// them, and run against the activation rows eight at a time. Many rows (prefill): weight rows are decoded once per
// call into an L2-sized scratch. Few rows (a decode batch, an expert's share of one): each super-block is decoded
// in registers as each pass of rows reaches it, the weights streamed once per call with prefetch; Q4_K and Q6_K
// rows of the single-row order run as one pass of all of them (wide_pass), each 64-weight vector against every row.
//
// Per (weight row, activation row) pair the arithmetic is the single-row kernels' (tile_simd.cc q4k/q5k/q6k
// _single_row, themselves llama.cpp's orders), so every output has exactly the bits a lone activation row gives:
// the integer sums are exact whatever the instruction order (maddubs pairs, then vpdpwssd = madd + add; or vpdpbusd
// quads packed into int16 pairs, which never saturate), and the float operations per pair are the same ones in the
// same order, eight pairs per vector:
//   Q4_K (llama.cpp's repacked order): per super-block seq = fma(float(isum), dw·da, seq) and
//        msum = fma(float(mins), dmin·da, msum); the output is seq - msum;
//        With t.gemm_order (llama.cpp's batched Q4_K kernel, ggml_gemm_q4_K_8x8_q8_K) the same two fused
//        multiply-adds per 64 weights instead of per super-block;
//   Q5_K, Q6_K (ggml_vec_dot order): 8 float lanes per pair, lane m = fma(dw·da, float(isum8_m), lane m) per
//        super-block; the output is hsum(lanes) - msum (Q5_K's mins as Q4_K's, msum = fma(dm, mins, msum)).
#include "intrinsics.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "../ggml_types.h"
#include "kernel_variants.h"
#include "quants.h"
#include "simd_sums.h"

namespace ir {
namespace avx512 {
namespace {

constexpr int kLanes = 8;  // activation rows per pass: one per float lane of a 256-bit vector

inline float h2f(ggml_half h) { return _cvtsh_ss(h); }

// One weight super-block, decoded.
struct DecodedSb {
  __m512i levels[4];  // vector c: elements 64c .. 64c+63 as unsigned bytes
  __m512i scales[4];  // vector c: int16 lane l = the scale of elements 64c+2l and 64c+2l+1
  float d, dmin;
  __m256i minv;         // Q4_K/Q5_K: int32 lane p (< 4) = the int16 pair (min_2p, min_2p+1)
  __m256i offset;        // Q6_K: int16 lane j = -32·scale_j (the levels' -32, per llama.cpp's lanes)
};

// Activation side of one super-block for a pass of kLanes rows (rows past the batch are zero).
struct ActSb {
  float d[kLanes];
  int32_t bsum_pairs[4][kLanes];  // int16 pair (bsums 4p + bsums 4p+1, bsums 4p+2 + bsums 4p+3): the 32-element sums
};

// The int16 pair (bsums 4q + bsums 4q+1, bsums 4q+2 + bsums 4q+3) of an activation super-block: its two
// 32-element sums, packed for vpdpwssd against a pair of Q4_K/Q5_K mins.
inline int32_t bsum_pair(const block_q8_K& B, int q) {
  const int lo = B.bsums[4 * q] + B.bsums[4 * q + 1], hi = B.bsums[4 * q + 2] + B.bsums[4 * q + 3];
  return int32_t(uint16_t(int16_t(lo))) | int32_t(uint32_t(uint16_t(int16_t(hi))) << 16);
}

// Vector c (elements 64c .. 64c+63) of a Q6_K super-block's levels (0..63) as unsigned bytes.
[[gnu::always_inline]] inline __m512i q6k_levels(const block_q6_K& B, int c) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  const int half = c / 2;
  const __m512i l = _mm512_loadu_si512(B.ql + 64 * half);
  const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.qh + 32 * half)));
  if (c % 2 == 0) return _mm512_or_si512(_mm512_and_si512(l, low4), _mm512_and_si512(_mm512_sllv_epi64(h, _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4)), bits45));
  return _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4), _mm512_and_si512(_mm512_srlv_epi64(h, _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0)), bits45));
}

// Super-block s of a weight row, decoded. Always inlined: called out of line (GCC's choice once the passes had
// more instantiations), the decoded vectors go through memory and a pass ran ~1.3x slower.
template <int kType>
[[gnu::always_inline]] inline void decode_sb(const uint8_t* row, int64_t s, DecodedSb& D) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  if constexpr (kType == GGML_Q6_K) {
    const auto& B = reinterpret_cast<const block_q6_K*>(row)[s];
    D.d = h2f(B.d);
    D.dmin = 0;
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.scales)));
    D.offset = _mm256_mullo_epi16(sc16, _mm256_set1_epi16(-32));
    const __m512i scales = _mm512_castsi256_si512(sc16);
    const __m512i lane16 = _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                                                              15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3);
    for (int c = 0; c < 4; c++) D.levels[c] = q6k_levels(B, c);
    for (int c = 0; c < 4; c++)  // vector c, int16 lane l: scale 4c + l/8 (16 elements per scale)
      D.scales[c] = _mm512_permutexvar_epi16(_mm512_add_epi16(_mm512_set1_epi16(short(4 * c)), lane16), scales);
  } else {
    constexpr bool kFive = kType == GGML_Q5_K;
    const uint8_t* blk = row + size_t(s) * (kFive ? sizeof(block_q5_K) : sizeof(block_q4_K));
    const auto* b4 = reinterpret_cast<const block_q4_K*>(blk);
    const auto* b5 = reinterpret_cast<const block_q5_K*>(blk);
    D.d = h2f(b4->d);
    D.dmin = h2f(b4->dmin);
    uint32_t u[4];  // scales 0..7 as bytes of u[0..1], mins of u[2..3]
    k4_scales_mins(b4->scales, u);
    // The mins as int16 lanes (bytes of u[2..3]), broadcast pair by pair where they are used (vpermd): cheaper than
    // assembling the pairs in scalar registers (5-10% at 1-4 activation rows, weights in L2).
    D.minv = _mm256_castsi128_si256(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, int(u[3]), int(u[2]))));
    const __m512i sc8 = _mm512_set1_epi64(int64_t(uint64_t(u[0]) | (uint64_t(u[1]) << 32)));  // scales 0..7, every 64 bits
    const uint8_t* qs = kFive ? b5->qs : b4->qs;
    const __m512i nibble_shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    const __m512i h = kFive ? _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b5->qh))) : __m512i{};
    for (int c = 0; c < 4; c++) {  // low nibbles: sub-block 2c (elements 64c..64c+31); high: 2c+1
      const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c)));
      __m512i q = _mm512_and_si512(_mm512_srlv_epi64(v, nibble_shift), low4);
      if (kFive) {
        const __m512i bit = _mm512_and_si512(
            _mm512_srlv_epi64(h, _mm512_set_epi64(2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c, 2 * c, 2 * c, 2 * c)),
            _mm512_set1_epi8(1));
        q = _mm512_or_si512(q, _mm512_slli_epi16(bit, 4));
      }
      D.levels[c] = q;
      // int16 lanes 0..15: scale 2c, 16..31: scale 2c+1 (a byte shuffle, zero high bytes: cheaper than vpermw)
      D.scales[c] = _mm512_shuffle_epi8(sc8, _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(short(0xFF00 | (2 * c))),
                                                                     _mm512_set1_epi16(short(0xFF00 | (2 * c + 1)))));
    }
  }
}

template <int kType>
void decode_row(const uint8_t* row, int64_t nsb, DecodedSb* out) {
  for (int64_t s = 0; s < nsb; s++) decode_sb<kType>(row, s, out[s]);
}

// Σ scale·level·activation of one super-block in 16 int32 lanes: lane m < 8 holds bytes 4m..4m+3 of the first
// 32 elements of each 64, lane 8 + m those of the second 32 (as the single-row kernels hold them).
inline __m512i sb_isum(const DecodedSb& D, const int8_t* aq) {
  __m512i isum = _mm512_setzero_si512();
  for (int c = 0; c < 4; c++)
    isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(D.levels[c], _mm512_loadu_si512(aq + 64 * c)), D.scales[c]);
  return isum;
}

inline __m256i add_runs(__m512i v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); }

// Lane i = the sum of the 16 int32 lanes of v[i] (i < N <= 8; the other lanes are zero). A transposing tree:
// each level adds two vectors' interleaved halves, 24 shuffles and adds for 8 rows where add_runs then lane_sums
// take ~37 (the integer sums are exact in any order). Q4_K's per-64 order reduces every 64 weights, and there it
// measured ~1.2x faster per call (2048x2048, 128 rows); per super-block (four times fewer reductions) it measured
// no faster, and it keeps 16 wide sums live instead of 8 narrow ones.
template <int N>
__attribute__((always_inline)) inline __m256i lane_sums16(const __m512i (&v)[N]) {
  const __m512i z = _mm512_setzero_si512();
  auto at = [&](int i) { return i < N ? v[i] : z; };
  // Pairs of rows: 128-bit lane l of t[j] holds row 2j's partial sums in int32 lanes 0 and 2, row 2j+1's in 1, 3.
  __m512i t[4];
  for (int j = 0; j < (N + 1) / 2; j++)
    t[j] = _mm512_add_epi32(_mm512_unpacklo_epi32(at(2 * j), at(2 * j + 1)), _mm512_unpackhi_epi32(at(2 * j), at(2 * j + 1)));
  for (int j = (N + 1) / 2; j < 4; j++) t[j] = z;
  // Quads: 128-bit lane l of u[k] holds rows 4k .. 4k+3's partial sums in int32 lanes 0..3.
  const __m512i u0 = _mm512_add_epi32(_mm512_unpacklo_epi64(t[0], t[1]), _mm512_unpackhi_epi64(t[0], t[1]));
  if constexpr (N <= 4) {
    const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(u0), _mm512_extracti64x4_epi64(u0, 1));
    return _mm256_zextsi128_si256(_mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
  } else {
    const __m512i u1 = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2], t[3]), _mm512_unpackhi_epi64(t[2], t[3]));
    // w = (u0.L0 + u0.L1, u0.L2 + u0.L3, u1.L0 + u1.L1, u1.L2 + u1.L3) in 128-bit lanes.
    const __m512i w = _mm512_add_epi32(_mm512_shuffle_i32x4(u0, u1, 0x88), _mm512_shuffle_i32x4(u0, u1, 0xDD));
    const __m512i r = _mm512_add_epi32(_mm512_shuffle_i32x4(w, w, 0x08), _mm512_shuffle_i32x4(w, w, 0x0D));
    return _mm512_castsi512_si256(r);
  }
}

inline __m256i sb_mins(const DecodedSb& D, const ActSb& A) {
  __m256i mins = _mm256_setzero_si256();
  for (int p = 0; p < 4; p++)
    mins = _mm256_dpwssd_epi32(mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(A.bsum_pairs[p])), _mm256_permutevar8x32_epi32(D.minv, _mm256_set1_epi32(p)));
  return mins;
}

// Where row_pass takes a weight row's super-blocks from: decoded beforehand into a scratch (many activation rows
// share each decoded row), or decoded as the pass reaches them, in registers (few activation rows: storing and
// reloading the decoded vectors cost more than decoding again, and the weights stream straight from memory).
struct FromScratch {
  const DecodedSb* dec;
  const DecodedSb& operator()(int64_t s) const { return dec[s]; }
};
template <int kType>
struct InPlace {
  const uint8_t* row;
  DecodedSb operator()(int64_t s) const {
    DecodedSb D;
    decode_sb<kType>(row, s, D);
    return D;
  }
};

// The accumulators of one pass of N activation rows in the single-row kernels' orders (Q4_K's per super-block, not
// its per-64 one), fed one decoded super-block at a time.
template <int kType, int N>
struct PassAcc {
  __m256 seq = _mm256_setzero_ps(), msum = _mm256_setzero_ps();
  __m256 acc[N];
  PassAcc() {
    for (int i = 0; i < N; i++) acc[i] = _mm256_setzero_ps();
  }
  void step(const DecodedSb& D, const block_q8_K* act, const ActSb& A, int64_t nsb, int64_t s) {
    const __m256 ad = _mm256_loadu_ps(A.d);
    if constexpr (kType == GGML_Q4_K) {
      __m256i isum[N];
      for (int i = 0; i < N; i++) isum[i] = add_runs(sb_isum(D, act[size_t(i) * size_t(nsb) + size_t(s)].qs));
      seq = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lane_sums<N>(isum)), _mm256_mul_ps(_mm256_set1_ps(D.d), ad), seq);
      msum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sb_mins(D, A)), _mm256_mul_ps(_mm256_set1_ps(D.dmin), ad), msum);
    } else {
      float dd[kLanes];
      _mm256_storeu_ps(dd, _mm256_mul_ps(_mm256_set1_ps(D.d), ad));
      for (int i = 0; i < N; i++) {
        const block_q8_K& B = act[size_t(i) * size_t(nsb) + size_t(s)];
        __m256i isum8 = add_runs(sb_isum(D, B.qs));
        if constexpr (kType == GGML_Q6_K)
          isum8 = _mm256_add_epi32(isum8, _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.bsums)), D.offset));
        acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(dd[i]), _mm256_cvtepi32_ps(isum8), acc[i]);
      }
      if constexpr (kType == GGML_Q5_K)
        msum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sb_mins(D, A)), _mm256_mul_ps(_mm256_set1_ps(D.dmin), ad), msum);
    }
  }
  void finish(float* y, int64_t ldy) const { store_pass_outputs<kType == GGML_Q4_K, N>(seq, msum, acc, y, ldy); }
};

// One weight row against activation rows m0 .. m0 + N (N <= kLanes); y[i * ldy] gets row m0 + i's output.
template <int kType, bool kPer64, int N, class Source>
void row_pass(const Source& sb, int64_t nsb, const block_q8_K* act, const ActSb* asb, float* y, int64_t ldy) {
  if constexpr (kType == GGML_Q4_K && kPer64) {
    __m256 seq = _mm256_setzero_ps(), msum = seq;
    for (int64_t s = 0; s < nsb; s++) {
      const auto& D = sb(s);
      const __m256 ad = _mm256_loadu_ps(asb[s].d);
      const __m256 dd = _mm256_mul_ps(_mm256_set1_ps(D.d), ad), dm = _mm256_mul_ps(_mm256_set1_ps(D.dmin), ad);
      for (int c = 0; c < 4; c++) {
        __m512i isum[N];
        for (int i = 0; i < N; i++) {
          const int8_t* aq = act[size_t(i) * size_t(nsb) + size_t(s)].qs + 64 * c;
          isum[i] = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(D.levels[c], _mm512_loadu_si512(aq)), D.scales[c]);
        }
        seq = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lane_sums16<N>(isum)), dd, seq);
        const __m256i mins = _mm256_dpwssd_epi32(_mm256_setzero_si256(), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(asb[s].bsum_pairs[c])),
                                                 _mm256_permutevar8x32_epi32(D.minv, _mm256_set1_epi32(c)));
        msum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), dm, msum);
      }
    }
    float out[kLanes];
    _mm256_storeu_ps(out, _mm256_sub_ps(seq, msum));
    for (int i = 0; i < N; i++) y[i * ldy] = out[i];
  } else {
    PassAcc<kType, N> g;
    for (int64_t s = 0; s < nsb; s++) g.step(sb(s), act, asb[s], nsb, s);
    g.finish(y, ldy);
  }
}

// Two passes of one order (not the per-64 one) against one weight row, each super-block decoded in registers
// once for both: a pass's fixed cost per super-block (decoding it, the mins, the float steps) is about four rows'
// integer work, so 9-16 activation rows (an expert's share of a prefill) ran ~1.3x slower as passes of 8 and 1-8.
template <int kType, int N1, int N2>
void row_pass_two(const uint8_t* row, int64_t nsb, const block_q8_K* act1, const ActSb* asb1, float* y1, const block_q8_K* act2,
                  const ActSb* asb2, float* y2, int64_t ldy) {
  PassAcc<kType, N1> g1;
  PassAcc<kType, N2> g2;
  for (int64_t s = 0; s < nsb; s++) {
    DecodedSb D;
    decode_sb<kType>(row, s, D);
    g1.step(D, act1, asb1[s], nsb, s);
    g2.step(D, act2, asb2[s], nsb, s);
  }
  g1.finish(y1, ldy);
  g2.finish(y2, ldy);
}

template <class Source>
using PassFn = void (*)(const Source&, int64_t, const block_q8_K*, const ActSb*, float*, int64_t);

// row_pass for a pass of n (1..kLanes) rows of one order.
template <int kType, class Source>
PassFn<Source> pass_for(int n, bool per64) {
  auto pick = [&](auto... fns) {
    const PassFn<Source> table[] = {fns...};
    return table[n - 1];
  };
  if (per64)
    return pick(row_pass<kType, true, 1, Source>, row_pass<kType, true, 2, Source>, row_pass<kType, true, 3, Source>, row_pass<kType, true, 4, Source>,
                row_pass<kType, true, 5, Source>, row_pass<kType, true, 6, Source>, row_pass<kType, true, 7, Source>, row_pass<kType, true, 8, Source>);
  return pick(row_pass<kType, false, 1, Source>, row_pass<kType, false, 2, Source>, row_pass<kType, false, 3, Source>, row_pass<kType, false, 4, Source>,
              row_pass<kType, false, 5, Source>, row_pass<kType, false, 6, Source>, row_pass<kType, false, 7, Source>, row_pass<kType, false, 8, Source>);
}

// Up to this many activation rows, weight rows are decoded in registers as each pass needs them (InPlace).
constexpr int kFewRows = 16;

// Q4_K's and Q6_K's single-row orders for up to kFewRows activation rows in one pass. Each 64-weight vector is
// decoded just before its use and runs against every row, so a decoded super-block is never stored (the passes
// above kept it on the stack and reloaded its eight vectors per row: ~1.6 instructions a cycle, load-bound). Per
// (weight row, activation row) pair the arithmetic is PassAcc's, the same float operations lane by lane:
//   Q4_K: one activation row per float lane of a 512-bit vector, so the float steps and the mins take one op for
//         all rows: seq = fma(float(isum), d·da, seq), msum = fma(float(mins), dmin·da, msum), out = seq - msum;
//   Q6_K: two activation rows per 512-bit vector (8 float lanes each): lanes = fma(d·da, float(isum8), lanes),
//         out = hsum(lanes) - 0.
struct ActSbWide {
  float d[2 * kLanes];
  int32_t bsum_pairs[4][2 * kLanes];  // Q4_K: as ActSb's, pair p's row m at [p][m]; passes of up to kLanes rows: two
                                      // pairs per vector (q4k_wide_mins)
  int16_t bsums[2 * kLanes][16];      // Q6_K: each row's 16-element sums; passes of q6k_paired rows: [2j .. 2j+1] pair j's in
                                      // the pair layout (q6k_pair_lane)
};

// Q6_K's wide pass takes two activation rows per vector (a pair) in one vpdpwssd by the scales, so each int32 lane of
// its sums must add only products that the single-row order puts in one of its eight float lanes: lane m adds
// dwords m and m + 8 of every 64-byte vector (4 consecutive elements each). The decoded levels and the activations'
// quants are both taken with their dwords in the order q6k_dword (dword n <- dword n / 2 + 8·(n % 2)), so dwords
// m and m + 8 sit side by side, and vpdpbusd's per-dword sums (|sum| <= 4·63·128: an int16) packed for two rows by
// vpackssdw (per 128-bit lane: row a's four dwords, then row b's) are added in pairs of one float lane each. In the
// pair's int32 sums, 128-bit lane L holds (row a, lane 2L), (a, 2L + 1), (b, 2L), (b, 2L + 1).
constexpr int q6k_dword(int n) { return n / 2 + 8 * (n % 2); }
// The int16 word w of a pair's vector of 16-element sums (activations) or offsets (weights) belongs to int32 lane
// w / 2 = 4L + i of the pair's sums: float lane m = 2L + i % 2 of row a (i < 2) or b; it is word w % 2 of the pair
// (sub-block 2m, sub-block 2m + 1) that the single-row kernel's madd of bsums by -32·scale adds to lane m.
constexpr int q6k_pair_lane(int w) { return 2 * (w / 8) + (w / 2) % 2; }
constexpr bool q6k_pair_row_b(int w) { return (w / 4) % 2 == 1; }
// Passes of this many rows take the pair layout; fewer keep one vpmaddubsw and one vpdpwssd per row (the layout's
// permutes cost what it saves there: 2-6 rows 1.0-1.06x the time; 8 rows 0.85-1.0x, 12-16 rows 0.91-0.95x).
constexpr bool q6k_paired(int n) { return n >= 7; }

template <class F>
constexpr std::array<int32_t, 16> dwords_of(F f) {
  std::array<int32_t, 16> a{};
  for (int n = 0; n < 16; n++) a[size_t(n)] = f(n);
  return a;
}
template <class F>
constexpr std::array<int16_t, 32> words_of(F f) {
  std::array<int16_t, 32> a{};
  for (int w = 0; w < 32; w++) a[size_t(w)] = int16_t(f(w));
  return a;
}
alignas(64) constexpr std::array<int32_t, 16> kQ6kDwordOrder = dwords_of([](int n) { return q6k_dword(n); });
// Word w of a pair's packed sums: dword n = 4·(w / 8) + w % 4 of row a's or b's, from dword q6k_dword(n) of the
// vector, whose four elements have scale 4c + q6k_dword(n) / 4 (c: the vector).
alignas(64) constexpr std::array<int16_t, 32> kQ6kPairScaleWord = words_of([](int w) { return q6k_dword(4 * (w / 8) + w % 4) / 4; });
// Word w of the offsets against a pair's 16-element sums: -32·scale of sub-block 2·q6k_pair_lane(w) + w % 2.
alignas(64) constexpr std::array<int16_t, 32> kQ6kPairOffsetWord = words_of([](int w) { return 2 * q6k_pair_lane(w) + w % 2; });

// Float accumulators per weight row (carried from one range of super-blocks to the next).
template <int kType>
constexpr int kWideAcc = kType == GGML_Q4_K ? 2 : kLanes;

// Lane i = the sum of row i's eight int32 lanes in the pair sums p (i < N <= 16; the other lanes are zero). Each
// 128-bit lane of p[j] holds row 2j's partial sums in int32 lanes 0 and 1, row 2j+1's in 2 and 3 (the vpackssdw
// order wide_pass leaves them in). First two pair vectors become one quad vector (lanes 0, 2 of each 128 bits and
// lanes 1, 3, one vshufps each, added: rows 4g .. 4g+3 in order), then the 128-bit lanes are added across as in
// lane_sums16's tail: 12 operations for 8 rows and 21 for 16, where adding within each pair vector, blending and a
// closing row-order shuffle took 17 and 34 (integers: exact in any order).
template <int N>
__attribute__((always_inline)) inline __m512i lane_sums_pairs(const __m512i (&p)[(N + 1) / 2]) {
  constexpr int kPairs = (N + 1) / 2;
  auto pair = [&](int j) { return j < kPairs ? _mm512_castsi512_ps(p[j]) : _mm512_setzero_ps(); };
  auto quads = [&](int g) {  // rows 4g .. 4g+3 in int32 lanes 0..3 of every 128 bits
    const __m512 a = pair(2 * g), b = pair(2 * g + 1);
    return _mm512_add_epi32(_mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                            _mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))));
  };
  // (x.L0 + x.L1, x.L2 + x.L3, y.L0 + y.L1, y.L2 + y.L3) in 128-bit lanes.
  auto across = [](__m512i x, __m512i y) { return _mm512_add_epi32(_mm512_shuffle_i32x4(x, y, 0x88), _mm512_shuffle_i32x4(x, y, 0xDD)); };
  const __m512i u0 = quads(0);
  if constexpr (N <= 4) {
    const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(u0), _mm512_extracti64x4_epi64(u0, 1));
    return _mm512_zextsi128_si512(_mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
  } else if constexpr (N <= kLanes) {
    const __m512i w = across(u0, quads(1));
    return _mm512_zextsi256_si512(_mm512_castsi512_si256(_mm512_add_epi32(_mm512_shuffle_i32x4(w, w, 0x08), _mm512_shuffle_i32x4(w, w, 0x0D))));
  } else {
    return across(across(u0, quads(1)), across(quads(2), quads(3)));
  }
}

// Lane i (< N) = row i's Σ min_j · (32-element sum j) of one Q4_K super-block: dword p of the mins zero-extended to
// int16 is the pair (min 2p, min 2p+1), put in place by one permute (no scalar extraction and broadcast per pair).
// Up to 8 rows, A.bsum_pairs holds two pairs p per vector (rows of pair p in lanes 8·(p % 2) ..; wide_prepare),
// so two vpdpwssd and a fold of the halves do what four did; the integers are exact in any order.
template <int N>
[[gnu::always_inline]] inline __m512i q4k_wide_mins(const uint32_t (&u)[4], const ActSbWide& A) {
  const __m512i pairs = _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(uint64_t(u[2]) | (uint64_t(u[3]) << 32)))));
  const int32_t* bsum = &A.bsum_pairs[0][0];
  if constexpr (N <= kLanes) {
    const __m512i lo = _mm512_permutexvar_epi32(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), pairs);
    const __m512i hi = _mm512_permutexvar_epi32(_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2), pairs);
    const __m512i m = _mm512_dpwssd_epi32(_mm512_madd_epi16(_mm512_loadu_si512(bsum), lo), _mm512_loadu_si512(bsum + 16), hi);
    return _mm512_add_epi32(m, _mm512_shuffle_i64x2(m, m, 0xEE));
  } else {
    __m512i m = _mm512_setzero_si512();
    for (int p = 0; p < 4; p++) m = _mm512_dpwssd_epi32(m, _mm512_loadu_si512(bsum + 16 * p), _mm512_permutexvar_epi32(_mm512_set1_epi32(p), pairs));
    return m;
  }
}

// Super-blocks [s0, s1) of one weight row, the sums so far in acc (carried from one range to the next, so the steps
// run in super-block order as in one pass). qs: the activation rows' quants interleaved, [super-block][64-element
// vector c][row][64 bytes] (rows at fixed offsets from one pointer: sixteen row pointers spilled from the registers
// as separate streams).
template <int kType, int N>
[[gnu::always_inline]] inline void wide_pass(const uint8_t* row, int64_t s0, int64_t s1, const int8_t* qs, const ActSbWide* asb, __m512* acc) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  if constexpr (kType == GGML_Q4_K) {
    const __m512i nibble_shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    __m512 seq = acc[0], msum = acc[1];
    for (int64_t s = s0; s < s1; s++) {
      const auto* b = reinterpret_cast<const block_q4_K*>(row) + s;
      uint32_t u[4];  // scales 0..7 as bytes of u[0..1], mins of u[2..3]
      k4_scales_mins(b->scales, u);
      const __m512i sc8 = _mm512_set1_epi64(int64_t(uint64_t(u[0]) | (uint64_t(u[1]) << 32)));
      constexpr int kPairs = (N + 1) / 2;
      __m512i isum[kPairs];
#pragma GCC unroll 4
      for (int c = 0; c < 4; c++) {  // as decode_sb: low nibbles sub-block 2c, high 2c+1
        const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs + 32 * c)));
        const __m512i levels = _mm512_and_si512(_mm512_srlv_epi64(v, nibble_shift), low4);
        const __m512i scales = _mm512_shuffle_epi8(sc8, _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(short(0xFF00 | (2 * c))),
                                                                                _mm512_set1_epi16(short(0xFF00 | (2 * c + 1)))));
        // Per row, vpdpbusd's sums of four level·activation products (|sum| <= 4·15·128, an int16), two rows packed
        // into one vector of int16 lanes, then one vpdpwssd by the scales for both: three multiplies per pair of
        // rows where maddubs + dpwssd per row took four. The scales still meet 32-element sub-blocks (vpackssdw keeps
        // 128-bit lanes), and the super-block's integer sum is the same number.
        auto act = [&](int i) { return _mm512_load_si512(qs + ((size_t(s) * 4 + size_t(c)) * N + size_t(i)) * 64); };
        for (int j = 0; j < kPairs; j++) {
          const __m512i ta = _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels, act(2 * j));
          const __m512i tb = 2 * j + 1 < N ? _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels, act(2 * j + 1)) : _mm512_setzero_si512();
          const __m512i p = _mm512_packs_epi32(ta, tb);
          isum[j] = c == 0 ? _mm512_madd_epi16(p, scales) : _mm512_dpwssd_epi32(isum[j], p, scales);
        }
      }
      const ActSbWide& A = asb[s];
      const __m512 ad = _mm512_loadu_ps(A.d);
      seq = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lane_sums_pairs<N>(isum)), _mm512_mul_ps(_mm512_set1_ps(h2f(b->d)), ad), seq);
      const __m512i mins = q4k_wide_mins<N>(u, A);
      msum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(_mm512_set1_ps(h2f(b->dmin)), ad), msum);
    }
    acc[0] = seq;
    acc[1] = msum;
  } else {
    static_assert(kType == GGML_Q6_K);
    constexpr int kPairs = (N + 1) / 2;
    constexpr bool kPaired = q6k_paired(N);
    const __m512i dword_order = _mm512_load_si512(kQ6kDwordOrder.data());
    // Per 16-bit word of a scale vector: the scale's index in vector 0 (kPaired: the pair layout's).
    const __m512i scale_word = kPaired ? _mm512_load_si512(kQ6kPairScaleWord.data())
                                       : _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                                                                            15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3);
    __m512 lanes[kPairs];
    for (int j = 0; j < kPairs; j++) lanes[j] = acc[j];
    for (int64_t s = s0; s < s1; s++) {
      const auto& B = reinterpret_cast<const block_q6_K*>(row)[s];
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.scales)));
      const __m256i offset16 = _mm256_mullo_epi16(sc16, _mm256_set1_epi16(-32));
      const __m512i scales16 = _mm512_castsi256_si512(sc16);
      __m512i isum[kPaired ? kPairs : N];
#pragma GCC unroll 4
      for (int c = 0; c < 4; c++) {
        const __m512i scales = _mm512_permutexvar_epi16(_mm512_add_epi16(_mm512_set1_epi16(short(4 * c)), scale_word), scales16);
        auto act = [&](int i) { return _mm512_load_si512(qs + ((size_t(s) * 4 + size_t(c)) * N + size_t(i)) * 64); };
        if constexpr (kPaired) {
          const __m512i levels = _mm512_permutexvar_epi32(dword_order, q6k_levels(B, c));
          for (int j = 0; j < kPairs; j++) {
            const __m512i ta = _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels, act(2 * j));
            const __m512i tb = 2 * j + 1 < N ? _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels, act(2 * j + 1)) : _mm512_setzero_si512();
            const __m512i p = _mm512_packs_epi32(ta, tb);
            isum[j] = c == 0 ? _mm512_madd_epi16(p, scales) : _mm512_dpwssd_epi32(isum[j], p, scales);
          }
        } else {
          const __m512i levels = q6k_levels(B, c);
          for (int i = 0; i < N; i++) {
            const __m512i p = _mm512_maddubs_epi16(levels, act(i));
            isum[i] = c == 0 ? _mm512_madd_epi16(p, scales) : _mm512_dpwssd_epi32(isum[i], p, scales);
          }
        }
      }
      // Each pair's integer sums per float lane plus the levels' -32 against the 16-element sums (the single-row
      // kernel's madd of bsums by -32·scale, lane m: sub-blocks 2m and 2m+1), then lanes = fma(d·da, float(sums),
      // lanes), each row's d·da in its lanes.
      const ActSbWide& A = asb[s];
      const __m512 dd = _mm512_mul_ps(_mm512_set1_ps(h2f(B.d)), _mm512_loadu_ps(A.d));
      const __m512i offset = kPaired ? _mm512_permutexvar_epi16(_mm512_load_si512(kQ6kPairOffsetWord.data()), _mm512_castsi256_si512(offset16))
                                     : _mm512_broadcast_i64x4(offset16);
      for (int j = 0; j < kPairs; j++) {
        const __m512i bsums = _mm512_loadu_si512(A.bsums[2 * j]);
        __m512i isum8;
        __m512i dd_index;  // d·da's lane per float lane
        if constexpr (kPaired) {
          isum8 = _mm512_dpwssd_epi32(isum[j], bsums, offset);
          dd_index = _mm512_set_epi32(2 * j + 1, 2 * j + 1, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j, 2 * j,
                                      2 * j + 1, 2 * j + 1, 2 * j, 2 * j);
        } else {  // rows 2j and 2j+1 in the low and high 256 bits: add_runs of each
          const __m512i a = isum[2 * j], b = 2 * j + 1 < N ? isum[2 * j + 1] : _mm512_setzero_si512();
          isum8 = _mm512_add_epi32(_mm512_add_epi32(_mm512_shuffle_i64x2(a, b, 0x44), _mm512_shuffle_i64x2(a, b, 0xEE)), _mm512_madd_epi16(bsums, offset));
          dd_index = _mm512_set_epi32(2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j, 2 * j, 2 * j, 2 * j,
                                      2 * j, 2 * j, 2 * j, 2 * j);
        }
        lanes[j] = _mm512_fmadd_ps(_mm512_permutexvar_ps(dd_index, dd), _mm512_cvtepi32_ps(isum8), lanes[j]);
      }
    }
    for (int j = 0; j < kPairs; j++) acc[j] = lanes[j];
  }
}

// Weight rows [r0, r1) of one group, super-blocks [s0, s1), through wide_pass (inlined: its constants are set up
// once per group rather than once per weight row, which mattered for k = 1024, four super-blocks a row). Each
// weight byte streams from memory once: prefetched a row ahead in this range (the group's last row: the next
// range's first row, or the next group's).
template <int kType, int N>
void wide_group(const uint8_t* w, size_t wrow, int r0, int r1, int64_t s0, int64_t s1, int64_t nsb, int64_t range, const int8_t* q,
                const ActSbWide* asb, __m512 (*acc)[kWideAcc<kType>]) {
  const size_t sb_bytes = kType == GGML_Q4_K ? sizeof(block_q4_K) : sizeof(block_q6_K);
  for (int r = r0; r < r1; r++) {
    const uint8_t* row = w + size_t(r) * wrow;
    const uint8_t* next = r + 1 < r1 ? row + wrow + size_t(s0) * sb_bytes
                        : s1 < nsb   ? w + size_t(r0) * wrow + size_t(s1) * sb_bytes
                                     : row + wrow;
    const size_t bytes = size_t((r + 1 < r1 || s1 >= nsb ? s1 - s0 : std::min(nsb, s1 + range) - s1)) * sb_bytes;
    prefetch_lines<3>(next, bytes);
    wide_pass<kType, N>(row, s0, s1, q, asb, acc[r - r0]);
  }
}

// Activation rows of one wide pass (1..kFewRows), laid out for wide_pass: their quants interleaved per super-block
// and 64-element vector, their scales and sums per super-block.
struct alignas(64) Vec64 { int8_t b[64]; };
struct WideActs {
  int n = 0;
  std::vector<ActSbWide> sb;
  std::vector<Vec64> qs;
};

template <int kType>
void wide_prepare(const block_q8_K* act, int n, int64_t nsb, WideActs& a) {
  a.n = n;
  a.sb.assign(size_t(nsb), ActSbWide{});
  a.qs.resize(size_t(nsb) * 4 * size_t(n));
  for (int m = 0; m < n; m++)
    for (int64_t s = 0; s < nsb; s++) {
      ActSbWide& A = a.sb[size_t(s)];
      const block_q8_K& B = act[size_t(m) * size_t(nsb) + size_t(s)];
      for (int c = 0; c < 4; c++) {
        int8_t* to = a.qs[(size_t(s) * 4 + size_t(c)) * size_t(n) + size_t(m)].b;
        if (kType == GGML_Q4_K || !q6k_paired(n)) std::memcpy(to, B.qs + 64 * c, 64);
        else for (int d = 0; d < 16; d++) std::memcpy(to + 4 * d, B.qs + 64 * c + 4 * q6k_dword(d), 4);
      }
      A.d[m] = B.d;
      if constexpr (kType == GGML_Q4_K) {
        // q4k_wide_mins' layout: up to kLanes rows, pair q's in lanes 16·(q / 2) + 8·(q % 2) + m.
        for (int q = 0; q < 4; q++) (&A.bsum_pairs[0][0])[n <= kLanes ? 16 * (q / 2) + kLanes * (q % 2) + m : 16 * q + m] = bsum_pair(B, q);
      } else if (q6k_paired(n)) {
        int16_t* pair = A.bsums[m / 2 * 2];
        for (int w = 0; w < 32; w++)
          if (q6k_pair_row_b(w) == (m % 2 == 1)) pair[w] = B.bsums[2 * q6k_pair_lane(w) + w % 2];
      } else {
        std::memcpy(A.bsums[m], B.bsums, sizeof(A.bsums[m]));
      }
    }
}

// Q6_K: the outputs of 16 weight rows for the activation rows 2j (lo) and 2j+1 (hi), lane r = weight row r: each
// the sum of its eight float lanes (acc[r][j]: row 2j's in the low 256 bits, 2j+1's in the high) in hsum's order,
// ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)), as a transposing tree over the 16 rows (44 operations and two vector
// stores where hsum per output took ~7 operations and a scalar store each).
inline void hsums16(const __m512 (*acc)[kLanes], int j, __m512& lo, __m512& hi) {
  __m512 x[8], yv[4], z[2];
  for (int k = 0; k < 8; k++) {  // 128-bit blocks: s of (2j, row 2k), (2j+1, 2k), (2j, 2k+1), (2j+1, 2k+1); s_m = l_m + l_m+4
    const __m512 a = acc[2 * k][j], b = acc[2 * k + 1][j];
    x[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
  }
  for (int m = 0; m < 4; m++)  // per block: (s0+s2, s1+s3) of x[2m], then of x[2m+1]
    yv[m] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * m], x[2 * m + 1], 0x44), _mm512_shuffle_ps(x[2 * m], x[2 * m + 1], 0xEE));
  for (int q = 0; q < 2; q++)  // per block c, lane i: the output of x[4q+i]'s block c
    z[q] = _mm512_add_ps(_mm512_shuffle_ps(yv[2 * q], yv[2 * q + 1], 0x88), _mm512_shuffle_ps(yv[2 * q], yv[2 * q + 1], 0xDD));
  // Weight row r = 8q + 2i + (block 2 or 3 rather than 0 or 1): element 16q + 4c + i of (z[0], z[1]).
  const __m512i lo_idx = _mm512_set_epi32(16 + 11, 16 + 3, 16 + 10, 16 + 2, 16 + 9, 16 + 1, 16 + 8, 16 + 0, 11, 3, 10, 2, 9, 1, 8, 0);
  lo = _mm512_permutex2var_ps(z[0], lo_idx, z[1]);
  hi = _mm512_permutex2var_ps(z[0], _mm512_add_epi32(lo_idx, _mm512_set1_epi32(4)), z[1]);
}

// v[k] lane i <- v[i] lane k: a 16x16 transpose in 64 shuffles (unpacks within 128-bit lanes, then shuffles of the
// 128-bit lanes). Q4_K's outputs leave wide_run as one vector per weight row (lane i: activation row i); transposed,
// each activation row's 16 outputs are one store, where 16 scalar stores per weight row and the spill they read
// took ~5% of a 32-sequence Llama-1B step (16 rows a pass, perf). Values are only moved, never added.
inline void transpose16(__m512 (&v)[16]) {
  __m512 t[16];
  for (int k = 0; k < 8; k++) {  // per 128-bit lane L: (a_4L, b_4L, a_4L+1, b_4L+1) and (a_4L+2, b_4L+2, a_4L+3, b_4L+3)
    t[2 * k] = _mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]);
  }
  for (int k = 0; k < 4; k++) {  // v[4k + j], 128-bit lane L: rows 4k .. 4k+3's element 4L + j
    v[4 * k] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
    v[4 * k + 1] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
    v[4 * k + 2] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
    v[4 * k + 3] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
  }
  for (int j = 0; j < 4; j++) {  // element 4L + j: lane L of v[j], v[4 + j], v[8 + j], v[12 + j], in that order
    const __m512 ab_even = _mm512_shuffle_f32x4(v[j], v[4 + j], 0x88), ab_odd = _mm512_shuffle_f32x4(v[j], v[4 + j], 0xDD);
    const __m512 cd_even = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0x88), cd_odd = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0xDD);
    t[j] = _mm512_shuffle_f32x4(ab_even, cd_even, 0x88);       // lane 0
    t[8 + j] = _mm512_shuffle_f32x4(ab_even, cd_even, 0xDD);   // lane 2
    t[4 + j] = _mm512_shuffle_f32x4(ab_odd, cd_odd, 0x88);     // lane 1
    t[12 + j] = _mm512_shuffle_f32x4(ab_odd, cd_odd, 0xDD);    // lane 3
  }
  for (int k = 0; k < 16; k++) v[k] = t[k];
}

// From this many activation rows a pass's Q4_K outputs are transposed (transpose16's 64 shuffles against 16 scalar
// stores per weight row and activation row).
constexpr int kTransposeRows = 4;

// Weight rows [r0, r1) of the tile against one wide pass's activation rows; y: the pass's first output row.
// The weight rows go in groups and the super-blocks in ranges whose activations fit in L1 (every weight row of a
// group runs one range before the next): 8 rows of a 8192-wide matrix streamed their 64 KB from L2 for each weight
// row, at L2's bandwidth (slower than the passes of 8 that reloaded a decoded super-block per row).
template <int kType>
void wide_run(const TileArgs& t, int r0_all, int r1_all, const WideActs& a, float* y) {
  const int64_t nsb = t.k / QK_K;
  const int n = a.n;
  using Fn = void (*)(const uint8_t*, size_t, int, int, int64_t, int64_t, int64_t, int64_t, const int8_t*, const ActSbWide*, __m512 (*)[kWideAcc<kType>]);
  const Fn table[] = {wide_group<kType, 1>,  wide_group<kType, 2>,  wide_group<kType, 3>,  wide_group<kType, 4>,
                      wide_group<kType, 5>,  wide_group<kType, 6>,  wide_group<kType, 7>,  wide_group<kType, 8>,
                      wide_group<kType, 9>,  wide_group<kType, 10>, wide_group<kType, 11>, wide_group<kType, 12>,
                      wide_group<kType, 13>, wide_group<kType, 14>, wide_group<kType, 15>, wide_group<kType, 16>};
  const Fn fn = table[n - 1];
  const int8_t* q = reinterpret_cast<const int8_t*>(a.qs.data());
  constexpr int kGroup = 16;
  const int64_t range = std::max<int64_t>(1, (int64_t(24) << 10) / (int64_t(n) * QK_K));
  for (int r0 = r0_all; r0 < r1_all; r0 += kGroup) {
    const int r1 = std::min(r1_all, r0 + kGroup);
    __m512 acc[kGroup][kWideAcc<kType>];
    for (int r = r0; r < r1; r++)
      for (int j = 0; j < kWideAcc<kType>; j++) acc[r - r0][j] = _mm512_setzero_ps();
    for (int64_t s0 = 0; s0 < nsb; s0 += range) {
      const int64_t s1 = std::min(nsb, s0 + range);
      fn(t.w, t.wrow, r0, r1, s0, s1, nsb, range, q, a.sb.data(), acc);
    }
    if constexpr (kType == GGML_Q4_K) {
      if (n >= kTransposeRows) {
        __m512 out[kGroup];
        for (int r = 0; r < kGroup; r++) out[r] = r0 + r < r1 ? _mm512_sub_ps(acc[r][0], acc[r][1]) : _mm512_setzero_ps();
        transpose16(out);
        const __mmask16 keep = __mmask16((1u << (r1 - r0)) - 1);
        for (int i = 0; i < n; i++) _mm512_mask_storeu_ps(y + int64_t(i) * t.ldy + r0, keep, out[i]);
      } else {
        for (int r = r0; r < r1; r++) {
          float out[2 * kLanes];
          _mm512_storeu_ps(out, _mm512_sub_ps(acc[r - r0][0], acc[r - r0][1]));
          for (int i = 0; i < n; i++) y[int64_t(i) * t.ldy + r] = out[i];
        }
      }
    } else {
      for (int r = r1; r < r0 + kGroup; r++)
        for (int j = 0; j < kWideAcc<kType>; j++) acc[r - r0][j] = _mm512_setzero_ps();
      // hsums16 takes row 2j's eight float lanes in the low 256 bits in order, 2j+1's in the high: lane m of row a
      // is at 4·(m / 2) + m % 2 of the pair layout, of row b two further.
      const __m512i unpair = _mm512_set_epi32(14 + 1, 14, 10 + 1, 10, 6 + 1, 6, 2 + 1, 2, 12 + 1, 12, 8 + 1, 8, 4 + 1, 4, 0 + 1, 0);
      if (q6k_paired(n))
        for (int r = r0; r < r1; r++)
          for (int j = 0; j < (n + 1) / 2; j++) acc[r - r0][j] = _mm512_permutexvar_ps(unpair, acc[r - r0][j]);
      const __mmask16 keep = __mmask16((1u << (r1 - r0)) - 1);
      for (int j = 0; j < (n + 1) / 2; j++) {
        __m512 lo, hi;
        hsums16(acc, j, lo, hi);
        _mm512_mask_storeu_ps(y + int64_t(2 * j) * t.ldy + r0, keep, lo);
        if (2 * j + 1 < n) _mm512_mask_storeu_ps(y + int64_t(2 * j + 1) * t.ldy + r0, keep, hi);
      }
    }
  }
}

// Up to this many activation rows of the single-row order run as wide passes: up to kFewRows in one, more as passes
// of at most kWideChunk<kType> rows each (balanced), over blocks of weight rows that stay in L2 while every pass reads them: at 32 rows the scratch path
// below (decoded rows in memory, passes of 8) took 1.25-1.45x the time (one thread, 2048x2048).
constexpr int kWideMaxRows = 64;
template <int kType>
constexpr int kWideChunk = kType == GGML_Q4_K ? 12 : 8;

// A tile's activation rows of the single-row order (at most kWideMaxRows) through wide passes.
template <int kType>
void wide_rows(const TileArgs& t) {
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  const int chunks = t.n_act <= kFewRows ? 1 : (t.n_act + kWideChunk<kType> - 1) / kWideChunk<kType>;
  thread_local std::vector<WideActs> passes;
  if (passes.size() < size_t(chunks)) passes.resize(size_t(chunks));
  int m0[kWideMaxRows / 8 + 1];
  for (int c = 0, m = 0; c < chunks; c++) {
    const int rows = (t.n_act - m) / (chunks - c);
    m0[c] = m;
    wide_prepare<kType>(act + size_t(m) * size_t(nsb), rows, nsb, passes[size_t(c)]);
    m += rows;
  }
  // Blocks of weight rows (whole groups of 16) that fit in L2 beside the activations, read from memory by the
  // first pass and from L2 by the others.
  const int block = chunks == 1 ? t.nw : std::max(16, int((size_t(256) << 10) / t.wrow) / 16 * 16);
  for (int r0 = 0; r0 < t.nw; r0 += block) {
    const int r1 = std::min(t.nw, r0 + block);
    for (int c = 0; c < chunks; c++) wide_run<kType>(t, r0, r1, passes[size_t(c)], t.y + int64_t(m0[c]) * t.ldy);
  }
}

template <int kType>
void tile_rows(const TileArgs& t) {
  if constexpr (kType == GGML_Q4_K || kType == GGML_Q6_K) {
    bool single_order = true;
    for (int m = 0; m < t.n_act && single_order; m++) single_order = kType != GGML_Q4_K || !(t.gemm_rows ? (t.gemm_rows[m] & kOrderQ4kGemm) != 0 : t.gemm_order);
    if (single_order && t.n_act <= kWideMaxRows) return wide_rows<kType>(t);
  }
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  // Passes of up to kLanes consecutive activation rows of one Q4_K order (TileArgs::gemm_rows), so that rows of
  // both orders share each decoded weight row.
  struct Pass { int m0, n; bool per64; };
  thread_local std::vector<Pass> pass_list;
  pass_list.clear();
  auto per64 = [&](int m) { return kType == GGML_Q4_K && (t.gemm_rows ? (t.gemm_rows[m] & kOrderQ4kGemm) != 0 : t.gemm_order); };
  for (int m = 0, e; m < t.n_act; m = e) {
    for (e = m + 1; e < t.n_act && e - m < kLanes && per64(e) == per64(m);) e++;
    pass_list.push_back({m, e - m, per64(m)});
  }
  // 9-16 rows of the single-row order run as two passes of about equal size that share each decoded super-block
  // (row_pass_two; the other way round, a lone ninth row would pay a whole decoding for itself).
  const bool two = t.n_act <= kFewRows && pass_list.size() == 2 && !pass_list[0].per64 && !pass_list[1].per64;
  if (two) pass_list = {{0, (t.n_act + 1) / 2, false}, {(t.n_act + 1) / 2, t.n_act / 2, false}};
  const int passes = int(pass_list.size());
  // Activation side, per pass and super-block.
  thread_local std::vector<ActSb> act_sb;
  act_sb.assign(size_t(passes) * size_t(nsb), ActSb{});
  for (int p = 0; p < passes; p++)
    for (int i = 0; i < pass_list[size_t(p)].n; i++) {
      const int m = pass_list[size_t(p)].m0 + i;
      for (int64_t s = 0; s < nsb; s++) {
        ActSb& A = act_sb[size_t(p) * size_t(nsb) + size_t(s)];
        const block_q8_K& B = act[size_t(m) * size_t(nsb) + size_t(s)];
        A.d[i] = B.d;
        for (int q = 0; q < 4; q++) A.bsum_pairs[q][i] = bsum_pair(B, q);
      }
    }
  if (t.n_act <= kFewRows) {
    // Each weight row streams from memory once, prefetched a few rows ahead, and every pass decodes it again
    // from L1.
    const size_t ahead = std::max<size_t>(2048, 2 * t.wrow);
    if (two) {
      using TwoFn = void (*)(const uint8_t*, int64_t, const block_q8_K*, const ActSb*, float*, const block_q8_K*, const ActSb*, float*, int64_t);
      const TwoFn table[] = {row_pass_two<kType, 5, 4>, row_pass_two<kType, 5, 5>, row_pass_two<kType, 6, 5>, row_pass_two<kType, 6, 6>,
                             row_pass_two<kType, 7, 6>, row_pass_two<kType, 7, 7>, row_pass_two<kType, 8, 7>, row_pass_two<kType, 8, 8>};
      const TwoFn fn = table[t.n_act - kLanes - 1];
      const int m2 = pass_list[1].m0;
      for (int r = 0; r < t.nw; r++) {
        const uint8_t* row = t.w + size_t(r) * t.wrow;
        prefetch_lines<3>(row + ahead, t.wrow);
        fn(row, nsb, act, act_sb.data(), t.y + r, act + size_t(m2) * size_t(nsb), act_sb.data() + size_t(nsb), t.y + int64_t(m2) * t.ldy + r, t.ldy);
      }
      return;
    }
    using Source = InPlace<kType>;
    thread_local std::vector<PassFn<Source>> fns;
    fns.resize(size_t(passes));
    for (int p = 0; p < passes; p++) fns[p] = pass_for<kType, Source>(pass_list[size_t(p)].n, pass_list[size_t(p)].per64);
    for (int r = 0; r < t.nw; r++) {
      const uint8_t* row = t.w + size_t(r) * t.wrow;
      prefetch_lines<3>(row + ahead, t.wrow);
      for (int p = 0; p < passes; p++) {
        const Pass& P = pass_list[size_t(p)];
        fns[p](Source{row}, nsb, act + size_t(P.m0) * size_t(nsb), act_sb.data() + size_t(p) * size_t(nsb), t.y + int64_t(P.m0) * t.ldy + r, t.ldy);
      }
    }
    return;
  }
  // Rows are decoded a few at a time into an L2-sized scratch, then every pass of activation rows (L1-sized) runs
  // against all of them: streaming the activations from L2 once per weight row bounded the kernel (measured
  // 86 GMAC/s at 128 activation rows against 111 at 16, one thread).
  const int64_t rows_per_part = std::max<int64_t>(1, (int64_t(256) << 10) / (nsb * int64_t(sizeof(DecodedSb))));
  thread_local std::vector<DecodedSb> dec;
  if (dec.size() < size_t(nsb * rows_per_part)) dec.resize(size_t(nsb * rows_per_part));
  for (int r0 = 0; r0 < t.nw; r0 += int(rows_per_part)) {
    const int r1 = int(std::min<int64_t>(t.nw, r0 + rows_per_part));
    for (int r = r0; r < r1; r++) decode_row<kType>(t.w + size_t(r) * t.wrow, nsb, dec.data() + size_t(r - r0) * size_t(nsb));
    for (int p = 0; p < passes; p++) {
      const Pass& P = pass_list[size_t(p)];
      const auto pass = pass_for<kType, FromScratch>(P.n, P.per64);
      for (int r = r0; r < r1; r++)
        pass(FromScratch{dec.data() + size_t(r - r0) * size_t(nsb)}, nsb, act + size_t(P.m0) * size_t(nsb), act_sb.data() + size_t(p) * size_t(nsb),
             t.y + int64_t(P.m0) * t.ldy + r, t.ldy);
    }
  }
}

}  // namespace

bool ksuper_batch_supports(int wtype) { return wtype == GGML_Q4_K || wtype == GGML_Q5_K || wtype == GGML_Q6_K; }

void tile_ksuper_batch(const TileArgs& t) {
  switch (t.wtype) {
    case GGML_Q4_K: tile_rows<GGML_Q4_K>(t); break;
    case GGML_Q5_K: tile_rows<GGML_Q5_K>(t); break;
    default: tile_rows<GGML_Q6_K>(t); break;
  }
}

}  // namespace avx512
}  // namespace ir
