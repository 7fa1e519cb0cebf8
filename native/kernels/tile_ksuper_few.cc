// AVX2 kernel for Q4_K and Q6_K weights against a few activation rows (a batched decode step: each sequence's
// token; llama.cpp's single-row order). Each weight super-block is decoded in registers, one 32-weight run at a
// time, and every run meets all the rows of a pass (up to kPassRows) before the next is decoded: no unpacked copy of
// the weights (tile_simd.cc's K-quant tile unpacks four rows into a scratch and then reloads every level, its scale
// and its sign for each activation row), and the per-super-block tail of Q4_K (its integer reduction, the mins and
// the two fused multiply-adds) runs for all rows at once, one row per float lane.
//
// Per (weight row, activation row) pair the arithmetic is tile_simd.cc's ksuper_group's, so every output has the
// bits of the row alone (and of llama.cpp's AVX2 kernels): the integer sums are exact whatever the instruction
// order (maddubs pairs of unsigned levels by signed activations, at most 2·63·128, then madd by the scales), and
// the float operations are the same ones in the same order:
//   Q4_K (sequential order): per super-block seq = fma(float(isum), d·da, seq), msum = fma(float(mins), dmin·da,
//        msum); the output is seq - msum;
//   Q6_K (ggml_vec_dot order): 8 float lanes per pair, lane m = fma(d·da, float(isum8_m - 32·offset_m), lane m);
//        the output is hsum(lanes) - 0.
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
// Up to this many activation rows (a 32-sequence step's forward, unsplit); prefill's batches keep the unpacked
// tiles, which decode each weight row once for all of them.
constexpr int kFewRowsMax = 32;

// The activation side of one super-block for a pass: the rows' scales, Q4_K's 32-element sums in int16 pairs
// (int32 lane i of pair p: row i's sums of sub-blocks 2p and 2p+1, for one madd against the pair of mins) and
// Q6_K's 16-element sums.
struct alignas(32) FewSb {
  float d[kPassRows];
  int32_t bsum_pairs[4][kPassRows];
  int16_t bsums[kPassRows][16];
};

// A pass's rows laid out for few_pass: quants interleaved per super-block and 32-element run ([s][run][row][32
// bytes]: fixed offsets from one pointer, where eight row pointers would take the general registers), and FewSb.
struct alignas(32) Run32 { int8_t b[32]; };
struct FewActs {
  std::vector<FewSb> sb;
  std::vector<Run32> qs;
};

void few_prepare(const block_q8_K* act, int n, int64_t nsb, FewActs& a) {
  a.sb.assign(size_t(nsb), FewSb{});
  a.qs.resize(size_t(nsb) * 8 * size_t(n));
  for (int m = 0; m < n; m++)
    for (int64_t s = 0; s < nsb; s++) {
      const block_q8_K& B = act[size_t(m) * size_t(nsb) + size_t(s)];
      for (int j = 0; j < 8; j++) std::memcpy(a.qs[(size_t(s) * 8 + size_t(j)) * size_t(n) + size_t(m)].b, B.qs + 32 * j, 32);
      FewSb& A = a.sb[size_t(s)];
      A.d[m] = B.d;
      for (int p = 0; p < 4; p++) {
        const int lo = B.bsums[4 * p] + B.bsums[4 * p + 1], hi = B.bsums[4 * p + 2] + B.bsums[4 * p + 3];
        A.bsum_pairs[p][m] = int32_t(uint16_t(int16_t(lo))) | int32_t(uint32_t(uint16_t(int16_t(hi))) << 16);
      }
      std::memcpy(A.bsums[m], B.bsums, sizeof(A.bsums[m]));
    }
}

// One weight row against the N rows of a pass: y[i * ldy] = row i's output.
template <int kType, int N>
void few_pass(const uint8_t* row, int64_t nsb, const int8_t* qs, const FewSb* asb, float* y, int64_t ldy) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  auto act = [&](int64_t s, int j, int i) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(qs + ((size_t(s) * 8 + size_t(j)) * N + size_t(i)) * 32));
  };
  if constexpr (kType == GGML_Q4_K) {
    __m256 seq = _mm256_setzero_ps(), msum = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
      const auto& B = reinterpret_cast<const block_q4_K*>(row)[s];
      uint32_t u[4];  // scales 0..7 as bytes of u[0..1], mins of u[2..3]
      k4_scales_mins(B.scales, u);
      const __m256i sc8 = _mm256_set1_epi64x(int64_t(uint64_t(u[0]) | (uint64_t(u[1]) << 32)));
      __m256i isum[N];
      for (int i = 0; i < N; i++) isum[i] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int j = 0; j < 8; j++) {  // run j: low nibbles of qs[32·(j/2) ..] for even j, high nibbles for odd
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.qs + 32 * (j / 2)));
        const __m256i levels = j % 2 == 0 ? _mm256_and_si256(v, low4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        // Scale j zero-extended into every int16 lane (a byte shuffle: the high byte's index has its top bit set).
        const __m256i scale = _mm256_shuffle_epi8(sc8, _mm256_set1_epi16(short(0xFF00 | j)));
        for (int i = 0; i < N; i++) isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(_mm256_maddubs_epi16(levels, act(s, j, i)), scale));
      }
      const FewSb& A = asb[s];
      const __m256 ad = _mm256_load_ps(A.d);
      seq = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lane_sums<N>(isum)), _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(B.d)), ad), seq);
      // Σ min_j · (32-element sum j) per row: int32 lane p of the mins as int16 is the pair (min 2p, min 2p+1).
      const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_set_epi32(0, 0, int(u[3]), int(u[2])));
      __m256i mins = _mm256_setzero_si256();
      for (int p = 0; p < 4; p++)
        mins = _mm256_add_epi32(mins, _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(A.bsum_pairs[p])),
                                                        _mm256_permutevar8x32_epi32(mins16, _mm256_set1_epi32(p))));
      msum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(B.dmin)), ad), msum);
    }
    float out[kPassRows];
    _mm256_storeu_ps(out, _mm256_sub_ps(seq, msum));
    for (int i = 0; i < N; i++) y[i * ldy] = out[i];
  } else {
    static_assert(kType == GGML_Q6_K);
    __m256 acc[N];
    for (int i = 0; i < N; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
      const auto& B = reinterpret_cast<const block_q6_K*>(row)[s];
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.scales)));
      __m256i isum[N];
      for (int i = 0; i < N; i++) isum[i] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int j = 0; j < 8; j++) {  // run j = 4·half + g: a nibble of ql and bits 2g, 2g+1 of qh (unpack_ksuper's order)
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
      }
      const FewSb& A = asb[s];
      const float d = _cvtsh_ss(B.d);
      for (int i = 0; i < N; i++) {
        // The levels' -32 per lane: 32·(bsums 2m, 2m+1 · scales 2m, 2m+1), as ksuper_group takes it off.
        const __m256i offset = _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(A.bsums[i])), sc16);
        const __m256i sum = _mm256_sub_epi32(isum[i], _mm256_slli_epi32(offset, 5));
        acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(d * A.d[i]), _mm256_cvtepi32_ps(sum), acc[i]);
      }
    }
    for (int i = 0; i < N; i++) y[i * ldy] = hsum(acc[i]) - 0.0f;
  }
}

using PassFn = void (*)(const uint8_t*, int64_t, const int8_t*, const FewSb*, float*, int64_t);

template <int kType>
PassFn pass_for(int n) {
  const PassFn table[] = {few_pass<kType, 1>, few_pass<kType, 2>, few_pass<kType, 3>, few_pass<kType, 4>,
                          few_pass<kType, 5>, few_pass<kType, 6>, few_pass<kType, 7>, few_pass<kType, 8>};
  return table[n - 1];
}

template <int kType>
void few_rows(const TileArgs& t) {
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  // Passes as even as can be (12 rows: 6 + 6, not 8 + 4): a pass's fixed work per super-block is shared by its rows.
  const int passes = (t.n_act + kPassRows - 1) / kPassRows;
  thread_local std::vector<FewActs> acts;
  if (acts.size() < size_t(passes)) acts.resize(size_t(passes));
  PassFn fns[kFewRowsMax / kPassRows];
  int m0[kFewRowsMax / kPassRows];
  for (int p = 0, m = 0; p < passes; p++) {
    const int n = (t.n_act - m) / (passes - p);
    m0[p] = m;
    fns[p] = pass_for<kType>(n);
    few_prepare(act + size_t(m) * size_t(nsb), n, nsb, acts[size_t(p)]);
    m += n;
  }
  // Each weight row streams from memory once (prefetched 2 KB or two rows ahead); the later passes read it from L1.
  const size_t ahead = std::max<size_t>(2048, 2 * t.wrow);
  for (int r = 0; r < t.nw; r++) {
    const uint8_t* row = t.w + size_t(r) * t.wrow;
    for (size_t o = 0; o < t.wrow; o += 64) _mm_prefetch(reinterpret_cast<const char*>(row + ahead + o), _MM_HINT_T0);
    for (int p = 0; p < passes; p++)
      fns[p](row, nsb, acts[size_t(p)].qs.data()->b, acts[size_t(p)].sb.data(), t.y + int64_t(m0[p]) * t.ldy + r, t.ldy);
  }
}

}  // namespace

bool ksuper_few_applies(const TileArgs& t) {
  return ((t.wtype == GGML_Q4_K && !t.gemm_order) || t.wtype == GGML_Q6_K) && t.n_act >= 1 && t.n_act <= kFewRowsMax;
}

void tile_ksuper_few(const TileArgs& t) {
  if (t.wtype == GGML_Q4_K) few_rows<GGML_Q4_K>(t);
  else few_rows<GGML_Q6_K>(t);
}

}  // namespace avx2
}  // namespace ir
