// AVX2 kernel for the 32-element types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) against 2+ activation rows (a
// batched decode step's tokens, a prefill chunk's). Each weight row is decoded once (Q8_0 read in place) and every
// block meets all the activation rows of a pass (up to kPassRows, one per float lane of the pass's scale vector)
// before the next block; the passes then take the decoded row from L1, their activations from L1/L2 (matmul hands
// a tile L2-sized chunks of them). tile_simd.cc's 32-element tile ran two activation rows per sweep of a four-row
// scratch, reloading every level and its sign and forming each dw·da product in a scalar register and broadcasting
// it: per (pair, block) ~8 vector operations against 5 here (Q8_0: 6), plus loads.
//
// Per (weight row, activation row) pair the arithmetic is tile_simd.cc's block32_group / block32_seq_group (and so
// the AVX-512 variant's and llama.cpp-zen4's), every output the bits of its row alone: the integer sums are exact
// whatever the instruction order, and the float operations are the same ones in the same order:
//   Q8_0, Q5_0, Q4_1, Q5_1 (ggml_vec_dot order): 8 int32 lanes per pair and block (lane i: bytes 4i..4i+3), fused
//        per block into 8 float lanes by fl(dw·da); the output is hsum(lanes) + the mins term (Q4_1/Q5_1:
//        Σ mw·sa block by block, each product exact in f32; the others: + 0, which makes a -0 sum +0);
//   Q4_0, IQ4_NL (llama.cpp's repacked order): per block the exact int32 total, fused by fl(dw·da).
// Unsigned codes (Q4_0's and Q5_0's biased ones, Q4_1/Q5_1's levels) go straight into maddubs; Q4_0/Q5_0 then
// take their bias back off as -bias·(the activations' sums), per 4-byte group or per block, computed once per call.
// Signed levels (Q8_0, IQ4_NL) take llama.cpp's |w|, a·sign(w) form.
#include "intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../ggml_types.h"
#include "block32_codes.h"
#include "kernel_variants.h"
#include "quants.h"
#include "simd_sums.h"

namespace ir {
namespace avx2 {
namespace {

constexpr int kPassRows = 8;  // activation rows per pass: one per float lane of a 256-bit vector

// The bits of kMagic = 1.5·2^23, whose float ulp is 1: for |x| < 2^22 the int32 bits kMagicBits + x are the float
// kMagic + x exactly, so subtracting kMagic gives float(x) exactly, the value vcvtdq2ps gives.
constexpr int32_t kMagicBits = 0x4B400000;

struct alignas(32) Run32 { int8_t b[32]; };
struct alignas(32) Floats8 { float v[8]; };
struct alignas(32) Ints8 { int32_t v[8]; };

constexpr bool has_min(int wtype) { return wtype == GGML_Q4_1 || wtype == GGML_Q5_1; }
constexpr bool block_order(int wtype) { return wtype == GGML_Q4_0 || wtype == GGML_IQ4_NL; }
constexpr bool signed_levels(int wtype) { return wtype == GGML_Q8_0 || wtype == GGML_IQ4_NL; }

// A pass's activation rows laid out for few_pass, per block b: the rows' quants [b][row] (fixed offsets from one
// pointer, where eight row pointers would take the general registers), their scales d[b] and Q8_1 sums s[b] (row i
// in lane i, zero past the pass's rows) and the bias terms: Q5_0 kMagicBits - 16·(4-byte group sums) per row, off[b][row];
// Q4_0 -8·(block sum) per row, off[b] lane i.
struct PassActs {
  std::vector<Run32> qs;
  std::vector<Floats8> d, s;
  std::vector<Ints8> off;
};

template <int kType>
void prepare_pass(const uint8_t* act, int n, int64_t nb, PassActs& a) {
  const size_t ablk = has_min(kType) ? sizeof(block_q8_1) : sizeof(block_q8_0);
  const size_t qoff = ablk - 32;
  a.qs.resize(size_t(nb) * size_t(n));
  a.d.assign(size_t(nb), Floats8{});
  if (has_min(kType)) a.s.assign(size_t(nb), Floats8{});
  if (kType == GGML_Q5_0) a.off.resize(size_t(nb) * size_t(n));
  if (kType == GGML_Q4_0) a.off.assign(size_t(nb), Ints8{});
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int i = 0; i < n; i++)
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* blk = act + (size_t(i) * size_t(nb) + size_t(b)) * ablk;
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + qoff));
      _mm256_store_si256(reinterpret_cast<__m256i*>(a.qs[size_t(b) * size_t(n) + size_t(i)].b), q);
      a.d[size_t(b)].v[i] = h2f(blk);
      if (has_min(kType)) a.s[size_t(b)].v[i] = h2f(blk + 2);
      const __m256i groups = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);  // sums of bytes 4j..4j+3
      if (kType == GGML_Q5_0)
        _mm256_store_si256(reinterpret_cast<__m256i*>(a.off[size_t(b) * size_t(n) + size_t(i)].v),
                           _mm256_sub_epi32(_mm256_set1_epi32(kMagicBits), _mm256_slli_epi32(groups, 4)));
      if (kType == GGML_Q4_0) a.off[size_t(b)].v[i] = -8 * hsum_i32(groups);
    }
}

// One weight row, decoded: block b's 32 codes at lv + b·stride, its scale d[b] and min m[b].
struct Row {
  const int8_t* lv;
  size_t stride;
  const float* d;
  const float* m;
};

// The 8 int32 lane sums of block b's codes against row i of the pass (wa: |w| for signed levels).
template <int kType, int N>
inline __m256i lane_isum(__m256i wv, __m256i wa, const PassActs& a, int64_t b, int i) {
  const __m256i av = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs[size_t(b) * N + size_t(i)].b));
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (signed_levels(kType)) return _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(av, wv)), ones);
  else return _mm256_madd_epi16(_mm256_maddubs_epi16(wv, av), ones);
}

// One weight row against the N rows of a pass: y[i * ldy] = row i's output. kBlockSums: per block the exact int32
// total, fused by fl(dw·da) (Q4_0/IQ4_NL's order; for Q8_0 matmul_argmax's estimate, not an output's order).
template <int kType, int N, bool kBlockSums = block_order(kType)>
void few_pass(const Row& w, int64_t nb, const PassActs& a, float* y, int64_t ldy) {
  float out[kPassRows];
  if constexpr (kBlockSums) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.lv + size_t(b) * w.stride));
      const __m256i wa = signed_levels(kType) ? _mm256_abs_epi8(wv) : wv;
      __m256i p[N];
      for (int i = 0; i < N; i++) p[i] = lane_isum<kType, N>(wv, wa, a, b, i);
      __m256i total = lane_sums<N>(p);
      if constexpr (kType == GGML_Q4_0) total = _mm256_add_epi32(total, _mm256_load_si256(reinterpret_cast<const __m256i*>(a.off[size_t(b)].v)));
      const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(w.d[b]), _mm256_load_ps(a.d[size_t(b)].v));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), scale, acc);
    }
    _mm256_storeu_ps(out, acc);
  } else {
    __m256 acc[N];
    for (int i = 0; i < N; i++) acc[i] = _mm256_setzero_ps();
    __m256 msum = _mm256_setzero_ps();
    const __m256i magic = _mm256_set1_epi32(kMagicBits);
    const __m256 magic_f = _mm256_castsi256_ps(magic);
    for (int64_t b = 0; b < nb; b++) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.lv + size_t(b) * w.stride));
      const __m256i wa = signed_levels(kType) ? _mm256_abs_epi8(wv) : wv;
      // Lane i: fl(dw·da_i), stored so that row i's accumulator takes it by a broadcast from memory (a load, where
      // a lane permute took a shuffle port).
      alignas(32) float scale[kPassRows];
      _mm256_store_ps(scale, _mm256_mul_ps(_mm256_set1_ps(w.d[b]), _mm256_load_ps(a.d[size_t(b)].v)));
      if constexpr (has_min(kType)) msum = _mm256_fmadd_ps(_mm256_set1_ps(w.m[b]), _mm256_load_ps(a.s[size_t(b)].v), msum);
      for (int i = 0; i < N; i++) {
        // float(lanes) as the bits of kMagic + lanes less kMagic (exact: |lanes| < 2^22), an integer add and a
        // float subtract where vcvtdq2ps shares the multiply ports with maddubs, madd and the fma (Q5_0's bias
        // terms carry the magic already).
        const __m256i isum = lane_isum<kType, N>(wv, wa, a, b, i);
        const __m256i biased = _mm256_add_epi32(isum, kType == GGML_Q5_0 ? _mm256_load_si256(reinterpret_cast<const __m256i*>(a.off[size_t(b) * N + size_t(i)].v)) : magic);
        acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(&scale[i]), _mm256_sub_ps(_mm256_castsi256_ps(biased), magic_f), acc[i]);
      }
    }
    _mm256_storeu_ps(out, msum);
    // Unrolled here, or GCC 12 kept acc[] in memory and stored every accumulator after every block.
#pragma GCC unroll 8
    for (int i = 0; i < N; i++) out[i] = hsum(acc[i]) + out[i];
  }
  for (int i = 0; i < N; i++) y[i * ldy] = out[i];
}

using PassFn = void (*)(const Row&, int64_t, const PassActs&, float*, int64_t);

template <int kType, bool kBlockSums>
PassFn pass_for(int n) {
  const PassFn table[] = {few_pass<kType, 1, kBlockSums>, few_pass<kType, 2, kBlockSums>, few_pass<kType, 3, kBlockSums>,
                          few_pass<kType, 4, kBlockSums>, few_pass<kType, 5, kBlockSums>, few_pass<kType, 6, kBlockSums>,
                          few_pass<kType, 7, kBlockSums>, few_pass<kType, 8, kBlockSums>};
  return table[n - 1];
}

// t.y[m * t.ldy + r] = activation row m against weight row r. With group_max (kBlockSums only): the largest
// (non-NaN) output of activation row m over rows 16g..16g+15 into group_max[m * ldmax + g] after those rows (t.nw a
// multiple of 16), the outputs themselves only where t.y is not null.
template <int kType, bool kBlockSums = block_order(kType)>
void few_rows(const TileArgs& t, float* group_max = nullptr, int64_t ldmax = 0) {
  const int64_t nb = t.k / 32;
  const size_t wblk = size_t(type_traits(kType).type_size);
  const size_t arow = size_t(nb) * (has_min(kType) ? sizeof(block_q8_1) : sizeof(block_q8_0));
  // Passes as even as can be (12 rows: 6 + 6, not 8 + 4): a pass's per-block work (the weight's load, |w|, the
  // scale products) is shared by its rows.
  const int passes = (t.n_act + kPassRows - 1) / kPassRows;
  thread_local std::vector<PassActs> acts;
  if (acts.size() < size_t(passes)) acts.resize(size_t(passes));
  thread_local std::vector<PassFn> fns;
  thread_local std::vector<int> m0;
  fns.resize(size_t(passes));
  m0.resize(size_t(passes));
  for (int p = 0, m = 0; p < passes; p++) {
    const int n = (t.n_act - m) / (passes - p);
    m0[size_t(p)] = m;
    fns[size_t(p)] = pass_for<kType, kBlockSums>(n);
    prepare_pass<kType>(t.act + size_t(m) * arow, n, nb, acts[size_t(p)]);
    m += n;
  }
  // A decoded row's codes (Q8_0's are read in place), scales and mins.
  thread_local std::vector<Run32> codes;
  thread_local std::vector<float> dw, mw;
  codes.resize(size_t(nb));
  dw.resize(size_t(nb));
  mw.resize(size_t(nb));
  const Row w = kType == GGML_Q8_0 ? Row{nullptr, wblk, dw.data(), mw.data()} : Row{codes.data()->b, 32, dw.data(), mw.data()};
  // Each weight row streams from memory once (prefetched 2 KB or two rows ahead); the later passes read it decoded
  // from L1.
  const size_t ahead = std::max<size_t>(2048, 2 * t.wrow);
  // Group maxima without outputs: a group's outputs in scratch (row m at m * kGroupRows), taken after its last row.
  constexpr int kGroupRows = 16;
  thread_local std::vector<float> scratch;
  if (group_max && !t.y) scratch.resize(size_t(t.n_act) * kGroupRows);
  float* const y = group_max && !t.y ? scratch.data() : t.y;
  const int64_t ldy = group_max && !t.y ? kGroupRows : t.ldy;
  for (int r = 0; r < t.nw; r++) {
    const uint8_t* row = t.w + size_t(r) * t.wrow;
    prefetch_lines<3>(row + ahead, t.wrow);
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* blk = row + size_t(b) * wblk;
      dw[size_t(b)] = h2f(blk);
      if (has_min(kType)) mw[size_t(b)] = h2f(blk + 2);
      if (kType != GGML_Q8_0) _mm256_store_si256(reinterpret_cast<__m256i*>(codes[size_t(b)].b), block32_codes(kType, blk));
    }
    Row rw = w;
    if (kType == GGML_Q8_0) rw.lv = reinterpret_cast<const int8_t*>(row + 2);
    const int col = y == t.y ? r : r % kGroupRows;
    for (int p = 0; p < passes; p++) fns[size_t(p)](rw, nb, acts[size_t(p)], y + int64_t(m0[size_t(p)]) * ldy + col, ldy);
    if (group_max && r % kGroupRows == kGroupRows - 1)
      for (int m = 0; m < t.n_act; m++) {
        const float* ym = y + int64_t(m) * ldy + (col - (kGroupRows - 1));
        float top = -INFINITY;  // NaN compares false: it never counts
        for (int i = 0; i < kGroupRows; i++)
          if (ym[i] > top) top = ym[i];
        group_max[int64_t(m) * ldmax + r / kGroupRows] = top;
      }
  }
}

}  // namespace

bool block32_few_applies(const TileArgs& t) {
  switch (t.wtype) {
    case GGML_Q8_0: case GGML_Q4_0: case GGML_Q4_1: case GGML_Q5_0: case GGML_Q5_1: case GGML_IQ4_NL:
      return t.n_act >= 2;
    default: return false;
  }
}

void tile_q8_0_block_sums(const TileArgs& t, float* group_max, int64_t ldmax) {
  few_rows<GGML_Q8_0, true>(t, group_max, ldmax);
}

void tile_block32_few(const TileArgs& t) {
  switch (t.wtype) {
    case GGML_Q8_0: return few_rows<GGML_Q8_0>(t);
    case GGML_Q4_0: return few_rows<GGML_Q4_0>(t);
    case GGML_Q4_1: return few_rows<GGML_Q4_1>(t);
    case GGML_Q5_0: return few_rows<GGML_Q5_0>(t);
    case GGML_Q5_1: return few_rows<GGML_Q5_1>(t);
    default: return few_rows<GGML_IQ4_NL>(t);
  }
}

}  // namespace avx2
}  // namespace ir
