// SIMD matmul tiles, compiled once per instruction set (binding.gyp builds this file into one static library per
// variant with its own -m flags and -DIR_SIMD_NS=<namespace>). A tile unpacks up to kMaxRows weight rows once into
// a small per-thread buffer (signed 8-bit levels plus scales, or f32; Q8_0 is read in place), then runs the
// activation rows against them a few at a time (register blocking), so each weight block is read and decoded once
// per tile whatever the number of activation rows.
//
// Arithmetic per (weight row, activation row) pair is llama.cpp's on x86, operation for operation: exact integer
// block sums in the same 32-bit lanes, then the same float scale products, fused multiply-adds and horizontal sums
// (vec_dot order, or the repacked kernels' order for the types llama.cpp repacks). Logits then match llama.cpp's
// bit for bit where the rest of the forward does.
#include "intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../ggml_types.h"
#include "bf16_twin.h"
#include "block32_codes.h"
#include "cpu_features.h"
#include "expf_ggml.h"
#include "kernel_variants.h"
#include "quants.h"
#include "simd_sums.h"

#ifndef IR_SIMD_NS
#error "IR_SIMD_NS must name the variant namespace"
#endif

#if defined(__AVX512F__) && defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define IR_AVX512 1
#else
#define IR_AVX512 0
#endif

#if !IR_AVX512
#include "tinyblas_gemm.h"
#endif

namespace ir {
namespace IR_SIMD_NS {
namespace {

constexpr int kMaxRows = 4;

#if !IR_AVX512
// A 16-lane f32 vector as two 256-bit halves (lanes 0-7, 8-15), for code that must give the AVX-512 build's bits
// with AVX2: every lane's multiply-adds are the same operations, and reduce_add is _mm512_reduce_add_ps's tree
// (lanes i + i+8, then the 128-bit halves, then (0+2) and (1+3), then those two): hsum of the halves' sum.
struct Lanes16 {
  __m256 lo, hi;
  static Lanes16 zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static Lanes16 load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static Lanes16 load_f16(const uint16_t* p) {  // 16 f16 values widened
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8));
    return {_mm256_cvtph_ps(a), _mm256_cvtph_ps(b)};
  }
  static Lanes16 fmadd(Lanes16 x, Lanes16 y, Lanes16 acc) { return {_mm256_fmadd_ps(x.lo, y.lo, acc.lo), _mm256_fmadd_ps(x.hi, y.hi, acc.hi)}; }
  static Lanes16 add(Lanes16 x, Lanes16 y) { return {_mm256_add_ps(x.lo, y.lo), _mm256_add_ps(x.hi, y.hi)}; }
  float reduce_add() const { return hsum(_mm256_add_ps(lo, hi)); }
};
#endif

// The four horizontal sums of p0..p3, as one vector.
inline __m128i hsum4_i32(__m256i p0, __m256i p1, __m256i p2, __m256i p3) {
  const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// llama.cpp repacks Q4_0/IQ4_NL/Q4_K (and Q2_K with AVX-512) weights on x86 and its kernels for them add one
// fused multiply-add per block (per super-block for K) and row, in block order; the other types go through
// ggml_vec_dot_*, which keeps 8 float lanes per row. Mirroring the order keeps logits bit-identical to it.
inline bool sequential_order(int wtype) {
  return wtype == GGML_Q4_0 || wtype == GGML_IQ4_NL || wtype == GGML_Q4_K || wtype == GGML_Q2_K;
}

// Σ w·a over 32 signed bytes as 8 partial int32 sums (lane i: bytes 4i..4i+3, as llama.cpp's
// mul_sum_i8_pairs). |w| comes from the caller, which reuses it across activation rows; a·sign(w) keeps the
// unsigned×signed instruction forms exact.
inline __m256i dot32_abs(__m256i w_abs, __m256i w, __m256i a) {
#if IR_AVX512
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), w_abs, _mm256_sign_epi8(a, w));
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(a, w)), _mm256_set1_epi16(1));
#endif
}

// Activation rows a tile runs at once against its weight rows (register blocking; AVX-512 has 32 registers).
constexpr int kActBlock = IR_AVX512 ? 4 : 2;
constexpr int kActBlockK = IR_AVX512 ? 2 : 1;


enum class Family { Float, Block32, KSuper };

Family family(int wtype) {
  switch (wtype) {
    case GGML_F32: case GGML_F16: case GGML_BF16: return Family::Float;
    case GGML_Q4_0: case GGML_Q4_1: case GGML_Q5_0: case GGML_Q5_1: case GGML_Q8_0: case GGML_IQ4_NL: return Family::Block32;
    default: return Family::KSuper;
  }
}

// ---- unpacked weight rows ----------------------------------------------------------------------------------

struct Scratch {
  std::vector<int8_t> q;       // levels, k per row
  std::vector<int16_t> sc16;   // K: per 32 elements, 8 copies of each of its two 16-element scales
  std::vector<int16_t> mn;     // K: min per 16 elements
  std::vector<float> d, m;     // Block32: scale and min per block; K: d and dmin per super-block
  std::vector<float> f;        // Float: the row as f32
  void reserve(int64_t k) {
    q.resize(size_t(k) * kMaxRows);
    sc16.resize(size_t(k) / 2 * kMaxRows + 16);
    mn.resize(size_t(k) / 16 * kMaxRows + 16);
    d.resize(size_t(k) / 32 * kMaxRows + 1);
    m.resize(size_t(k) / 32 * kMaxRows + 1);
    f.resize(size_t(k) * kMaxRows);
  }
};

// One 32-element block's levels as signed bytes, with its scale (and min, for Q4_1/Q5_1), decoded in registers.
inline __m256i block32_levels(int wtype, const uint8_t* blk, float* d, float* m) {
  *d = h2f(blk);
  if (wtype == GGML_Q4_1 || wtype == GGML_Q5_1) *m = h2f(blk + 2);
  const __m256i codes = block32_codes(wtype, blk);
  const int bias = block32_bias(wtype);
  return bias == 0 ? codes : _mm256_sub_epi8(codes, _mm256_set1_epi8(char(bias)));
}

void unpack_block32(int wtype, const uint8_t* row, int64_t nb, int8_t* q, float* d, float* m) {
  const size_t bsize = size_t(type_traits(wtype).type_size);
  for (int64_t b = 0; b < nb; b++, q += 32)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), block32_levels(wtype, row + size_t(b) * bsize, d + b, m + b));
}

// One K-quant row: levels, 16-bit scales (per 32 elements: 8 copies of each half's scale, for madd), mins per 16
// (Q2_K), d/dmin per super-block.
// Bits shift .. shift+width-1 of every byte, at the bottom of the byte (a 16-bit shift cannot carry the other byte's
// bits that far down once masked).
inline __m256i byte_bits(__m256i v, int shift, int mask) {
  return _mm256_and_si256(_mm256_srli_epi16(v, shift), _mm256_set1_epi8(char(mask)));
}

// Run c (32 bytes) of a Q4_K/Q5_K super-block's qs as levels: the low nibbles are elements 64c..64c+31, the high ones
// the next 32; for Q5_K (five) bits 2c and 2c+1 of qh's 32 bytes (h) are their fifth bits.
struct K4Run {
  __m256i lo, hi;
};
inline K4Run k4_run(const uint8_t* qs, __m256i h, int c, bool five) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
  __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  if (five) {
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(byte_bits(h, 2 * c, 1), 4));
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(byte_bits(h, 2 * c + 1, 1), 4));
  }
  return {lo, hi};
}

void unpack_ksuper(int wtype, const uint8_t* row, int64_t nsb, int8_t* q, int16_t* sc16, int16_t* mn, float* d,
                   float* dmin) {
  const size_t bsize = size_t(type_traits(wtype).type_size);
  for (int64_t s = 0; s < nsb; s++, q += QK_K, sc16 += QK_K / 2, mn += 16) {
    const uint8_t* blk = row + size_t(s) * bsize;
    int sc[16];
    for (int j = 0; j < 16; j++) mn[j] = 0;
    dmin[s] = 0;
    switch (wtype) {
      case GGML_Q2_K: {
        auto* b = reinterpret_cast<const block_q2_K*>(blk);
        d[s] = _cvtsh_ss(b->d);
        dmin[s] = _cvtsh_ss(b->dmin);
        for (int j = 0; j < 16; j++) { sc[j] = b->scales[j] & 0xF; mn[j] = int16_t(b->scales[j] >> 4); }
        for (int half = 0; half < 2; half++)
          for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) q[128 * half + 32 * g + l] = int8_t((b->qs[32 * half + l] >> (2 * g)) & 3);
        break;
      }
      case GGML_Q3_K: {
        auto* b = reinterpret_cast<const block_q3_K*>(blk);
        d[s] = _cvtsh_ss(b->d);
        int8_t s8[16];
        q3k_scales(b->scales, s8);
        for (int j = 0; j < 16; j++) sc[j] = s8[j];
        for (int half = 0; half < 2; half++)
          for (int g = 0; g < 4; g++) {
            const int bit = 4 * half + g;
            for (int l = 0; l < 32; l++)
              q[128 * half + 32 * g + l] =
                  int8_t(((b->qs[32 * half + l] >> (2 * g)) & 3) - (((b->hmask[l] >> bit) & 1) ? 0 : 4));
          }
        break;
      }
      default: {  // IQ4_XS
        auto* b = reinterpret_cast<const block_iq4_xs*>(blk);
        d[s] = _cvtsh_ss(b->d);
        iq4xs_levels(b, sc, q);
      }
    }
    for (int c = 0; c < 8; c++) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(sc16 + 16 * c), _mm_set1_epi16(int16_t(sc[2 * c])));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(sc16 + 16 * c + 8), _mm_set1_epi16(int16_t(sc[2 * c + 1])));
    }
  }
}

void unpack_float(int wtype, const uint8_t* row, int64_t k, float* out) {
  auto* h = reinterpret_cast<const uint16_t*>(row);
  int64_t i = 0;
  if (wtype == GGML_F16) {
    for (; i + 8 <= k; i += 8)
      _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
    for (; i < k; i++) out[i] = _cvtsh_ss(h[i]);
  } else {
    for (; i + 8 <= k; i += 8) {
      const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
      _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < k; i++) out[i] = bf16_to_fp32(h[i]);
  }
}

// ---- tiles --------------------------------------------------------------------------------------------------

// Weight levels of a band: block b of row r starts at q + r * row_stride + b * block_stride (unpacked rows, or
// Q8_0 blocks read in place).
struct Levels {
  const int8_t* q;
  size_t row_stride, block_stride;
  const int8_t* at(int r, int64_t b) const { return q + size_t(r) * row_stride + size_t(b) * block_stride; }
};

// NW weight rows (f32, or f16 widened in registers; BF16 takes vdpbf16ps's order: bf16_lone_rows, tile_bf16.cc) against
// NA activation rows (a, a + k, ...), each pair in ggml_vec_dot_f32/_f16's order, as llama.cpp sums a lone row: four
// vector accumulators over 4-vector steps, reduced pairwise ((0+2)+(1+3)), then horizontally; leftover elements are
// added one product at a time (f32: in float; f16: in double, the result rounded to float). Pair (r, m)'s sum goes to
// out[r][m * ldy]. Each pair keeps its own accumulators, so its bits are those it has alone; weight loads are shared by
// the activation rows, activation loads by the weight rows (NW > 1: several weight streams in flight, row_streams). F16
// rows are read in place: decode is a pass over the weights, and an f32 copy of each row (a store and a reload) halved
// its speed. kPrefetch (F16, one activation row): prefetch_runs_ahead in each 64-element step.
template <int kWType, int NW, int NA, bool kPrefetch = false>
void vec_dot_rows(const void* const* rows, const float* a, int64_t k, float* const* out, int64_t ldy) {
  static_assert(!kPrefetch || kWType != GGML_F32, "the prefetch steps are 128 bytes: 64 16-bit weights");
  static_assert(kWType != GGML_BF16, "BF16 lone rows are vdpbf16ps's order: tile_bf16.cc, bf16_lone_rows");
#if IR_AVX512
  constexpr int kLanes = 16;
  using Vec = __m512;
  auto zero = [] { return _mm512_setzero_ps(); };
  auto load = [](const float* p) { return _mm512_loadu_ps(p); };
  auto load_w = [&](int r, int64_t i) {
    if constexpr (kWType == GGML_F32) return _mm512_loadu_ps(static_cast<const float*>(rows[r]) + i);
    else return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(rows[r]) + i)));
  };
  auto fma = [](Vec x, Vec y, Vec acc) { return _mm512_fmadd_ps(x, y, acc); };
  auto add = [](Vec x, Vec y) { return _mm512_add_ps(x, y); };
  auto reduce = [](Vec x) { return double(_mm512_reduce_add_ps(x)); };
#else
  // AVX-512's 16-lane vectors as two 256-bit halves (Lanes16): the same products, sums and reduction tree, so the
  // same bits as the AVX-512 build (the engine's arithmetic is llama.cpp's zen4 build's on every CPU).
  constexpr int kLanes = 16;
  using Vec = Lanes16;
  auto zero = [] { return Lanes16::zero(); };
  auto load = [](const float* p) { return Lanes16::load(p); };
  auto load_w = [&](int r, int64_t i) {
    if constexpr (kWType == GGML_F32) return Lanes16::load(static_cast<const float*>(rows[r]) + i);
    else return Lanes16::load_f16(static_cast<const uint16_t*>(rows[r]) + i);
  };
  auto fma = [](Vec x, Vec y, Vec acc) { return Lanes16::fmadd(x, y, acc); };
  auto add = [](Vec x, Vec y) { return Lanes16::add(x, y); };
  auto reduce = [](Vec x) { return double(x.reduce_add()); };
#endif
  constexpr int kStep = 4 * kLanes;
  const int64_t np = k & ~int64_t(kStep - 1);
  Vec acc[NW][NA][4];
  for (int r = 0; r < NW; r++)
    for (int m = 0; m < NA; m++)
      for (int j = 0; j < 4; j++) acc[r][m][j] = zero();
  for (int64_t i = 0; i < np; i += kStep) {
    if constexpr (kPrefetch) prefetch_runs_ahead<NW>(rows, i * int64_t(sizeof(uint16_t)));
    for (int j = 0; j < 4; j++) {
      Vec av[NA];
      for (int m = 0; m < NA; m++) av[m] = load(a + m * k + i + j * kLanes);
      for (int r = 0; r < NW; r++) {
        const Vec w = load_w(r, i + j * kLanes);
        for (int m = 0; m < NA; m++) acc[r][m][j] = fma(w, av[m], acc[r][m][j]);
      }
    }
  }
  // The leftover products are one dependent chain per pair: the pairs' chains interleave, element by element.
  for (int r = 0; r < NW; r++) {
    if constexpr (kWType == GGML_F32) {  // ggml_vec_dot_f32 adds them in float
      const auto* wf = static_cast<const float*>(rows[r]);
      float sum[NA];
      for (int m = 0; m < NA; m++) sum[m] = float(reduce(add(add(acc[r][m][0], acc[r][m][2]), add(acc[r][m][1], acc[r][m][3]))));
#if IR_AVX512
      for (int64_t i = np; i < k; i++)
        for (int m = 0; m < NA; m++) sum[m] += wf[i] * a[m * k + i];
#else
      // The AVX-512 build compiles the loop above (disassembled) as products of 16 and then 8 leftovers in vectors,
      // each rounded, then added one at a time, and the last k % 8 as fused multiply-adds; spelled out here, since
      // this build's compiler vectorizes it by 8 and 4 instead.
      const int64_t rounded_end = np + ((k - np) & ~int64_t(7));
      for (int64_t i = np; i < rounded_end; i++)
        for (int m = 0; m < NA; m++) {
          float p = wf[i] * a[m * k + i];
          asm("" : "+x"(p));  // keeps the product rounded (not fused with the add)
          sum[m] += p;
        }
      for (int64_t i = rounded_end; i < k; i++)
        for (int m = 0; m < NA; m++) sum[m] = std::fma(wf[i], a[m * k + i], sum[m]);
#endif
      for (int m = 0; m < NA; m++) out[r][m * ldy] = sum[m];
    } else {  // ggml_vec_dot_f16 in double
      const auto* wh = static_cast<const uint16_t*>(rows[r]);
      double sum[NA];
      for (int m = 0; m < NA; m++) sum[m] = reduce(add(add(acc[r][m][0], acc[r][m][2]), add(acc[r][m][1], acc[r][m][3])));
      for (int64_t i = np; i < k; i++) {
        const float w = kWType == GGML_F16 ? _cvtsh_ss(wh[i]) : bf16_to_fp32(wh[i]);
        for (int m = 0; m < NA; m++) sum[m] += double(w * a[m * k + i]);
      }
      for (int m = 0; m < NA; m++) out[r][m * ldy] = float(sum[m]);
    }
  }
}

// Activation rows per vec_dot_rows pass: four accumulators each, within the vector registers (24 of 32 zmm: each
// widened f16 weight vector serves 6 rows).
constexpr int kLoneActs = IR_AVX512 ? 6 : 2;
// Weight rows side by side against a single activation row (lone_row_runs): 16 accumulators, which fit AVX-512's 32
// registers; AVX2's 16 would spill, so it keeps one run (not measured there).
constexpr int kLoneStreams = IR_AVX512 ? 4 : 1;

// Weight rows (row_at) against every activation row of t in vec_dot's order (TileArgs::single_row). One activation
// row (decode): long weight rows in kLoneStreams runs (lone_row_runs; F16/BF16 from kCompactStreamMinK, with
// prefetches on Intel). Several: each weight row meets them in passes, so it is read from memory once and from L1 by
// the later passes.
template <int kWType, typename RowAt>
void lone_rows(RowAt row_at, int nw, const TileArgs& t) {
  const auto* a = reinterpret_cast<const float*>(t.act);
  if (t.n_act == 1) {
    const auto row = [&](int r) -> const void* { return row_at(r); };
    constexpr bool kHalf = kWType != GGML_F32;
    auto runs = [&](auto prefetch) {
      lone_row_runs<kLoneStreams>(nw, t.k, lone_pass(row, t.y, [&](auto ns, const void* const* rows, float* const* out) {
        vec_dot_rows<kWType, decltype(ns)::value, 1, decltype(prefetch)::value>(rows, a, t.k, out, t.ldy);
      }), kHalf ? kCompactStreamMinK : kStreamMinK);
    };
    if constexpr (kHalf) with_lone_prefetch(runs);
    else runs(std::false_type{});
    return;
  }
  for (int r = 0; r < nw; r++)
    act_passes<kLoneActs>(t.n_act, [&](auto na, int m0) {
      const void* row[1] = {row_at(r)};
      float* out[1] = {t.y + int64_t(m0) * t.ldy + r};
      vec_dot_rows<kWType, 1, decltype(na)::value>(row, a + int64_t(m0) * t.k, t.k, out, t.ldy);
    });
}

#if IR_AVX512
// ---- f32 lone rows, 16 weight rows in vector lanes -----------------------------------------------------------
// ggml_vec_dot_f32's order per (weight row, activation row) pair, as vec_dot_rows<GGML_F32, NA>, for 16 weight rows
// at once. vec_dot_rows ends each pair with scalar steps: the four accumulators' sum reduced horizontally, then the
// k % 64 leftover products added one at a time, a dependent chain per pair (stories15M's k = 288: 32 of them after
// 18 vector multiply-adds) that cost ~3x the vector part for a 5-row speculative verify. Here the 16 pairs of an
// activation row run those steps in the 16 lanes of one vector, each lane the same operations in the same order:
// the horizontal sums level by level across vectors (reduce16), the leftovers as a vector of 16 rows' products
// per element (the 16 rows' tails transposed in registers), so every result keeps its bits.

constexpr int kLaneRows = 16;
// Groups of 16 rows ahead that a group prefetches (stories15M's layers, 5 rows, one thread: 1 or 2 ahead ~7% less
// CPU than no prefetch, at load).
constexpr int kLanePrefetchGroups = 2;
// Activation rows from which the lanes pay. Stop 28's host: for one or two, a 32000x288 f32 matrix from memory ran
// ~15-30% slower than vec_dot_rows (whose per-row chains overlap the next row's loads); from four, in cache, ~2x
// faster. Stop 32's Sapphire Rapids (bench/native/float-lone-rows.cc, one thread, min CPU of a pass): stories15M's
// six f32 layers 1.36-1.41 -> 1.10-1.15 ms for 2 rows, 1.66-1.71 -> 1.16-1.23 ms for 3 (a 3-row verify had cost
// more than a 5-row one); the 32000x288 matrix 4.2-4.4 -> 1.65-1.75 ms (2 rows), 5.4-6.0 -> 1.8-1.9 ms (3). So from
// two: the speculative verifies of k 1 and 2 (adaptive k shrinks k4 to them after a refused draft).
constexpr int kLaneMinActs = 2;

// Lane r of the result is _mm512_reduce_add_ps(v[slot r]) bit for bit: that intrinsic's tree (the 256-bit halves
// added, then the 128-bit halves, the 64-bit halves, the last pair), each level applied to several vectors at once.
// The last level leaves vector L + 4j's sum in lane 4L + j: lane_slot gives the slot whose sum lands in lane r.
constexpr int lane_slot(int r) { return r / 4 + 4 * (r % 4); }

inline __m512 reduce16(const __m512* v) {
  __m512 a[8], b[4], c[2];
  for (int p = 0; p < 8; p++)
    a[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0x44), _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0xEE));
  for (int q = 0; q < 4; q++)
    b[q] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * q], a[2 * q + 1], 0x88), _mm512_shuffle_f32x4(a[2 * q], a[2 * q + 1], 0xDD));
  for (int s = 0; s < 2; s++)
    c[s] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * s], b[2 * s + 1], 0x44), _mm512_shuffle_ps(b[2 * s], b[2 * s + 1], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
}

// Columns [c0, c0 + n) (n <= 16) of 16 rows (row r at w + r * k) transposed: out[i] lane r = w[r * k + c0 + i].
inline void transpose16(const float* w, int64_t k, int64_t c0, int n, __m512* out) {
  const __mmask16 mask = __mmask16((1u << n) - 1);
  __m512 r[16], t[16], u[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_maskz_loadu_ps(mask, w + int64_t(i) * k + c0);
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  // u[4i + j], 128-bit lane L: rows 4i..4i+3, column c0 + 4L + j.
  for (int j = 0; j < 4; j++) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 w0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), w1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    const __m512 cols[4] = {_mm512_shuffle_f32x4(v0, w0, 0x88), _mm512_shuffle_f32x4(v1, w1, 0x88),
                            _mm512_shuffle_f32x4(v0, w0, 0xDD), _mm512_shuffle_f32x4(v1, w1, 0xDD)};
    for (int L = 0; L < 4; L++)
      if (4 * L + j < n) out[4 * L + j] = cols[L];
  }
}

// The leftover columns of 16 rows: at most 63 (k % 64).
struct LaneTails {
  __m512 col[64];
  int n;
};

inline void lane_tails(const float* w, int64_t k, LaneTails& tails) {
  const int64_t np = k & ~int64_t(63);
  tails.n = int(k - np);
  for (int c = 0; c < tails.n; c += 16) transpose16(w, k, np + c, std::min(16, tails.n - c), tails.col + c);
}

// NA activation rows (a, a + k, ...) against 16 weight rows (w, w + k, ...): out[m * ldy + r]. prefetch (or null):
// 16 rows further on, asked for a row at a time while these stream (the steps after the rows' loop load nothing).
template <int NA>
void lane_rows_pass(const float* w, const float* a, int64_t k, const LaneTails& tails, float* out, int64_t ldy, const float* prefetch) {
  const int64_t np = k & ~int64_t(63);
  __m512 part[NA][kLaneRows];  // per activation row, each weight row's four accumulators added pairwise, in slots
  for (int r = 0; r < kLaneRows; r++) {
    const float* wr = w + int64_t(r) * k;
    if (prefetch) prefetch_lines<3>(prefetch + int64_t(r) * k, size_t(k) * sizeof(float));
    __m512 acc[NA][4];
    for (int m = 0; m < NA; m++)
      for (int j = 0; j < 4; j++) acc[m][j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < np; i += 64)
      for (int j = 0; j < 4; j++) {
        const __m512 wv = _mm512_loadu_ps(wr + i + 16 * j);
        for (int m = 0; m < NA; m++) acc[m][j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(a + m * k + i + 16 * j), acc[m][j]);
      }
    for (int m = 0; m < NA; m++)
      part[m][lane_slot(r)] = _mm512_add_ps(_mm512_add_ps(acc[m][0], acc[m][2]), _mm512_add_ps(acc[m][1], acc[m][3]));
  }
  for (int m = 0; m < NA; m++) {
    __m512 sum = reduce16(part[m]);
    // Each leftover product rounded, then added (vec_dot_rows' float steps; a multiply the compiler may not fuse).
    for (int i = 0; i < tails.n; i++)
      sum = _mm512_add_ps(sum, _mm512_mul_round_ps(tails.col[i], _mm512_set1_ps(a[m * k + np + i]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm512_storeu_ps(out + m * ldy, sum);
  }
}

// Whether lane_rows gives t's f32 lone rows vec_dot_rows' bits: leftovers a multiple of 8, which vec_dot_rows (as
// compiled) multiplies and adds as separate roundings; a shorter remainder it fuses.
bool lane_rows_apply(const TileArgs& t) {
  return t.single_row && t.wtype == GGML_F32 && t.k % 8 == 0 && t.nw >= kLaneRows && t.n_act >= kLaneMinActs &&
         t.wrow == size_t(t.k) * sizeof(float);
}

// The first nw / 16 * 16 weight rows of t; returns how many.
int lane_rows(const TileArgs& t) {
  const auto* a = reinterpret_cast<const float*>(t.act);
  const int groups = t.nw / kLaneRows;
  LaneTails tails;
  for (int g = 0; g < groups; g++) {
    const auto* w = reinterpret_cast<const float*>(t.w + size_t(g) * kLaneRows * t.wrow);
    lane_tails(w, t.k, tails);
    const float* next = g + kLanePrefetchGroups <= groups ? w + kLanePrefetchGroups * kLaneRows * t.k : nullptr;
    act_passes<kLoneActs>(t.n_act, [&](auto na, int m0) {
      lane_rows_pass<decltype(na)::value>(w, a + int64_t(m0) * t.k, t.k, tails, t.y + int64_t(m0) * t.ldy + g * kLaneRows, t.ldy,
                                          m0 == 0 ? next : nullptr);
    });
  }
  return groups * kLaneRows;
}
#endif

// F16/BF16 weight rows in vec_dot's order, each row read in place (vec_dot_rows).
template <int kWType>
void half_single_row(const TileArgs& t) {
  lone_rows<kWType>([&](int r) { return t.w + size_t(r) * t.wrow; }, t.nw, t);
}

#if !IR_AVX512
// The accumulator side of AVX2's blocked batch kernels (tinyblas_gemm.h): AVX-512's 16-lane accumulators as two
// 8-lane parts (lanes 0-7, then 8-15, each over the whole k slice; the 16 lanes at once would take two registers per
// accumulator), and _mm512_reduce_add_ps as hsum of the parts' sum (Lanes16::reduce_add).
struct Lanes8Acc {
  using Vec = __m256;
  static constexpr int kParts = 2, kRegisters = 16, kSubSteps = 1;
  static constexpr int64_t kKc = 2048;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec add(Vec x, Vec y) { return _mm256_add_ps(x, y); }
  static float hsum(Vec v) { return IR_SIMD_NS::hsum(v); }  // of lanes i + (i+8): Lanes16::reduce_add
  static void hsums(const Vec* v, int n, float* out) {  // out[j] = hsum(v[j]), eight at a time
    for (int j0 = 0; j0 < n; j0 += 8) {
      Vec x[8];
      float s[8];
      for (int j = 0; j < 8; j++) x[j] = j0 + j < n ? v[j0 + j] : zero();
      hsum8(x, s);
      std::copy(s, s + std::min(8, n - j0), out + j0);
    }
  }
  using WElem = uint16_t;  // tinyblas_gemm.h's has_panel: the file's rows
};

// F16 weights against 2+ activation rows in tinyBLAS's order as the AVX-512 build runs it (float_group's: one
// 16-lane accumulator per pair, both operands widened to f32, _mm512_reduce_add_ps's tree once), blocked by
// tinyblas_gemm.h in a 3x4 tile of 8-lane vectors (12 accumulators + 3 weight vectors + 1 activation of the 16 ymm
// registers). The weights are widened in registers from the file's rows (no f32 copy of them), the activations
// arrive widened (f32 holding the rounded values).
struct F16BatchOp : Lanes8Acc {
  using Act = float;
  using AVec = __m256;
  using WVec = __m256;
  static constexpr int kStep = 16, kRW = 3, kRA = 4;
  static WVec load_w(const uint16_t* p, int = 0) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static AVec load_a(const float* p, int = 0) { return _mm256_loadu_ps(p); }
  static __m256 madd(WVec w, AVec a, __m256 acc) { return _mm256_fmadd_ps(w, a, acc); }
  struct StepMode {};  // tinyblas_gemm.h's Acc::StepMode: the caller's environment
};

// ---- BF16 in the zen4 build's orders: vdpbf16ps's twin (bf16_twin.h) on 8-lane halves --------------------------
// 8 pairs (16 elements) as f32 vectors of their odd and their even elements. Weights: one load, the high half of
// each dword (2j+1) masked, the low one (2j) shifted up; activations arrive split so (bf16_pair_slot): two loads.
struct PairHalves {
  __m256 odd, even;
  static PairHalves weights(const uint16_t* p) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(int(0xFFFF0000u)))), _mm256_castsi256_ps(_mm256_slli_epi32(v, 16))};
  }
  static PairHalves acts(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  // vdpbf16ps's step on 8 lanes (inside a DazFtzScope): the odd product, then the even one.
  static __m256 step(PairHalves w, PairHalves a, __m256 acc) { return _mm256_fmadd_ps(w.even, a.even, _mm256_fmadd_ps(w.odd, a.odd, acc)); }
};

// ggml_vec_dot_bf16's zen4 order for a weight row against NA activation rows (split rows: bf16_pair_slot): two
// 16-lane vdpbf16ps accumulators over 64-element steps (elements 0-31 and 32-63 of each; here four 8-lane halves),
// each reduced (_mm512_reduce_add_ps's tree) and added in double, then the k % 64 leftovers' f32 products in double.
// In two phases, so that the steps of many rows share one DAZ/FTZ scope (setting MXCSR costs ~100 cycles) and the
// sums run outside it: bf16_steps stores each pair's four halves (part[m * 32 ...]), bf16_sum adds them up.
// kPrefetch: prefetch_runs_ahead in each 64-element step (decode's lone rows on Intel).
template <int NW, int NA, bool kPrefetch>
void bf16_steps(const uint16_t* const* w, const float* a, int64_t k, float* const* part) {
  __m256 c[NW][NA][4];
  for (int r = 0; r < NW; r++)
    for (int m = 0; m < NA; m++)
      for (int q = 0; q < 4; q++) c[r][m][q] = _mm256_setzero_ps();
  for (int64_t i = 0; i + 64 <= k; i += 64) {
    if constexpr (kPrefetch) prefetch_runs_ahead<NW>(w, i * int64_t(sizeof(uint16_t)));
    for (int q = 0; q < 4; q++) {
      PairHalves av[NA];
      for (int m = 0; m < NA; m++) av[m] = PairHalves::acts(a + m * k + i + 16 * q);
      for (int r = 0; r < NW; r++) {
        const PairHalves wv = PairHalves::weights(w[r] + i + 16 * q);
        for (int m = 0; m < NA; m++) c[r][m][q] = PairHalves::step(wv, av[m], c[r][m][q]);
      }
    }
  }
  for (int r = 0; r < NW; r++)
    for (int m = 0; m < NA; m++)
      for (int q = 0; q < 4; q++) _mm256_storeu_ps(part[r] + 32 * m + 8 * q, c[r][m][q]);
}

inline float bf16_sum(const float* part, const uint16_t* w, const float* a, int64_t k) {
  const auto half = [&](int q) { return _mm256_loadu_ps(part + 8 * q); };
  double sum = double(hsum(_mm256_add_ps(half(0), half(1))));
  sum += double(hsum(_mm256_add_ps(half(2), half(3))));
  for (int64_t j = k & ~int64_t(63); j < k; j++) sum += double(bf16_to_fp32(w[j]) * a[bf16_pair_slot(j, k)]);
  return float(sum);
}

// BF16 weight rows against every activation row of t in vec_dot's order (TileArgs::single_row), as tile_bf16.cc's
// AVX-512 lone rows, with the weight rows in chunks of kBf16ScopeRows under one DAZ/FTZ scope. One activation row
// (decode): rows of kCompactStreamMinK+ elements in kBf16LoneStreams runs side by side (8 accumulators + 2 weight and
// 2 activation halves + the mask), with prefetches on Intel; several: activation rows two at a time.
constexpr int kBf16ScopeRows = 64, kBf16LoneStreams = 2;
void bf16_lone_rows(const TileArgs& t) {
  const auto* a = reinterpret_cast<const float*>(t.act);
  auto row = [&](int r) { return reinterpret_cast<const uint16_t*>(t.w + size_t(r) * t.wrow); };
  alignas(32) float part[kBf16ScopeRows][64];
  for (int r0 = 0; r0 < t.nw; r0 += kBf16ScopeRows) {
    const int n = std::min(kBf16ScopeRows, t.nw - r0);
    for (int m0 = 0; m0 < t.n_act; m0 += 2) {
      const int na = std::min(2, t.n_act - m0);
      const float* am = a + int64_t(m0) * t.k;
      {
        const DazFtzScope steps;
        if (t.n_act == 1) {
          with_lone_prefetch([&](auto prefetch) {
            lone_row_runs<kBf16LoneStreams>(n, t.k, [&](auto ns, const int* rs) {
              constexpr int NS = decltype(ns)::value;
              const uint16_t* w[NS];
              float* p[NS];
              for (int s = 0; s < NS; s++) {
                w[s] = row(r0 + rs[s]);
                p[s] = part[rs[s]];
              }
              bf16_steps<NS, 1, decltype(prefetch)::value>(w, am, t.k, p);
            }, kCompactStreamMinK);
          });
        } else {
          for (int r = 0; r < n; r++) {
            const uint16_t* w[1] = {row(r0 + r)};
            float* p[1] = {part[r]};
            if (na == 2) bf16_steps<1, 2, false>(w, am, t.k, p);
            else bf16_steps<1, 1, false>(w, am, t.k, p);
          }
        }
      }
      for (int r = 0; r < n; r++)
        for (int m = 0; m < na; m++) t.y[int64_t(m0 + m) * t.ldy + r0 + r] = bf16_sum(part[r] + 32 * m, row(r0 + r), am + int64_t(m) * t.k, t.k);
    }
  }
}

// BF16 weights against 2+ activation rows in tinyBLAS's zen4 order (tinyBLAS<32, __m512, __m512bh>: one 16-lane
// vdpbf16ps accumulator per pair over 32-element steps, reduced once), blocked by tinyblas_gemm.h: each step's two
// parts are its first and last 16 elements, 8 pairs each, and each part's step two sub-steps, the odd elements'
// products then the even ones' (PairHalves::step as separate FMAs). So the tile is F16BatchOp's, 3x4 with one
// vector per weight row (12 accumulators + 3 weight vectors + 1 activation: all 16 registers).
// The weights come from a panel (tinyblas_gemm.h's has_panel): a sub-band's rows of a 512-element k pass widened to
// f32 in the activations' split layout (bf16_pair_slot) once per activation block, so either side of 8 pairs is one
// load and the tile's ports 0/1 run its FMAs alone (Llama-1B BF16 pp128 on AVX2: ~1.19x less CPU with the prefetches
// and the rest of bf16pp35). Decoding them in registers instead (a 32-byte load, the odd elements shifted
// down and up, the even ones up: three shift µops per 8 pairs of a weight row, once for every activation tile) ran
// ~0.93x the widened order's kernel (bf16avx34); masking the odd elements takes a 17th register.
struct Bf16BatchOp : Lanes8Acc {
  using Act = float;
  using AVec = __m256;
  using WVec = __m256;
  using WElem = float;
  static constexpr int kStep = 32, kRW = 3, kRA = 4, kSubSteps = 2;
  static constexpr int64_t kKc = 512;
  // n bf16 elements (n % 16 == 0) as f32 rows in bf16_pair_slot's order: bit copies, so a denormal stays one for the
  // twin's DAZ to take as zero.
  static void to_panel(const uint16_t* src, int64_t n, float* dst) {
    for (int64_t i = 0; i < n; i += 16) {
      const PairHalves h = PairHalves::weights(src + i);
      _mm256_store_ps(dst + i, h.odd);
      _mm256_store_ps(dst + i + 8, h.even);
    }
  }
  static WVec load_w(const float* p, int h) { return _mm256_load_ps(p + 8 * h); }
  static AVec load_a(const float* p, int h) { return _mm256_loadu_ps(p + 8 * h); }
  static __m256 madd(WVec w, AVec a, __m256 acc) { return _mm256_fmadd_ps(w, a, acc); }
  using StepMode = DazFtzScope;
};

bool half_batch_applies(const TileArgs& t) {
  return !t.single_row && !t.act_16bit && (t.wtype == GGML_F16 ? t.k % 16 == 0 : t.wtype == GGML_BF16 && t.k % 32 == 0);
}

void half_batch(const TileArgs& t) {
  const auto* act = reinterpret_cast<const float*>(t.act);
  if (t.wtype == GGML_F16) tinyblas::gemm<F16BatchOp>(t, act);
  else tinyblas::gemm<Bf16BatchOp>(t, act);
}
#endif

// MA activation rows against NW f32 weight rows in llamafile's tinyBLAS order (what llama.cpp uses when a matmul
// has 2+ activation rows): one vector accumulator per pair, one horizontal sum at the end.
template <int NW, int MA>
void float_group(const float* const* wr, int64_t k, const TileArgs& t, int m0) {
  const float* a[MA];
  for (int i = 0; i < MA; i++) a[i] = reinterpret_cast<const float*>(t.act) + size_t(m0 + i) * size_t(k);
  float out[NW][MA];
#if IR_AVX512
  __m512 acc[NW][MA];
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++) acc[r][i] = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= k; j += 16) {
    // Streaming one row (TileArgs::stream_rows): ask for the weights 2 KiB ahead, past this row into the next
    // ones, which the hardware prefetcher alone fetches too late for this short a loop.
    if (NW == 1 && t.stream_rows) _mm_prefetch(reinterpret_cast<const char*>(wr[0] + j + 512), _MM_HINT_T0);
    __m512 av[MA];
    for (int i = 0; i < MA; i++) av[i] = _mm512_loadu_ps(a[i] + j);
    for (int r = 0; r < NW; r++) {
      const __m512 wv = _mm512_loadu_ps(wr[r] + j);
      for (int i = 0; i < MA; i++) acc[r][i] = _mm512_fmadd_ps(wv, av[i], acc[r][i]);
    }
  }
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++) out[r][i] = _mm512_reduce_add_ps(acc[r][i]);
#else  // the AVX-512 build's 16-lane accumulators (Lanes16), so the same sums
  Lanes16 acc[NW][MA];
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++) acc[r][i] = Lanes16::zero();
  int64_t j = 0;
  for (; j + 16 <= k; j += 16) {
    Lanes16 av[MA];
    for (int i = 0; i < MA; i++) av[i] = Lanes16::load(a[i] + j);
    for (int r = 0; r < NW; r++) {
      const Lanes16 wv = Lanes16::load(wr[r] + j);
      for (int i = 0; i < MA; i++) acc[r][i] = Lanes16::fmadd(wv, av[i], acc[r][i]);
    }
  }
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++) out[r][i] = acc[r][i].reduce_add();
#endif
  for (; j < k; j++)
    for (int r = 0; r < NW; r++)
      for (int i = 0; i < MA; i++) out[r][i] += wr[r][j] * a[i][j];
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++) t.y[int64_t(m0 + i) * t.ldy + r] = out[r][i];
}

// A streamed weight row (TileArgs::stream_rows) meets up to kStreamActs activation rows in one pass, the passes
// as even as can be (9 rows: 5 + 4, not 8 + 1): each pair keeps its own accumulator (float_group's sums, bit for
// bit), and a pass of one or two rows is a latency-bound chain (18 dependent FMAs for k = 288). A speculative
// verify's 5 rows took a pass of 4 and one of 1 (5-row verify of stories15M-f32, one thread: ~12% faster in one).
constexpr int kStreamActs = IR_AVX512 ? 8 : 4;

void stream_pass(const float* const* wr, int64_t k, const TileArgs& t, int m0, int n) {
  switch (n) {
    case 1: float_group<1, 1>(wr, k, t, m0); break;
    case 2: float_group<1, 2>(wr, k, t, m0); break;
    case 3: float_group<1, 3>(wr, k, t, m0); break;
    case 4: float_group<1, 4>(wr, k, t, m0); break;
#if IR_AVX512
    case 5: float_group<1, 5>(wr, k, t, m0); break;
    case 6: float_group<1, 6>(wr, k, t, m0); break;
    case 7: float_group<1, 7>(wr, k, t, m0); break;
    case 8: float_group<1, 8>(wr, k, t, m0); break;
#endif
    default: break;
  }
}

// One streamed weight row (outputs in column 0 of t.y) against all of t's activation rows.
void stream_float_row(const float* w, int64_t k, const TileArgs& t) {
  const int passes = (t.n_act + kStreamActs - 1) / kStreamActs;
  for (int p = 0, m = 0; p < passes; p++) {
    const int n = (t.n_act - m) / (passes - p);  // the rows left, shared evenly by the passes left
    stream_pass(&w, k, t, m, n);
    m += n;
  }
}

// llama.cpp's float matmuls take two paths: ggml_vec_dot_* for a single activation row (decode), tinyBLAS for
// more. Following the same split keeps results identical to it in both cases.
template <int NW>
void tile_float(const float* const* wr, int64_t k, const TileArgs& t) {
  if (t.single_row) {  // one weight row at a time streams best (measured 2.4x faster than 4 for an f32 LM head)
    lone_rows<GGML_F32>([&](int r) { return wr[r]; }, NW, t);
    return;
  }
  if (t.stream_rows) {  // one weight row at a time against all activation rows (same sums, one memory stream)
    for (int r = 0; r < NW; r++) {
      TileArgs one = t;
      one.y = t.y + r;
      stream_float_row(wr[r], k, one);
    }
    return;
  }
  int m = 0;
  for (; m + kActBlock <= t.n_act; m += kActBlock) float_group<NW, kActBlock>(wr, k, t, m);
  for (; m < t.n_act; m++) float_group<NW, 1>(wr, k, t, m);
}

// MA activation rows m0.. against NW weight rows, llama.cpp's vec_dot order per (row, activation) pair.
template <int NW, int MA>
void block32_group(Levels q, const float* d, const float* mins, bool has_min, int64_t nb, const TileArgs& t, int m0) {
  const size_t ablk = has_min ? sizeof(block_q8_1) : sizeof(block_q8_0);
  const size_t qoff = has_min ? 4 : 2;
  __m256 acc[NW][MA];
  float msum[NW][MA];
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++) { acc[r][i] = _mm256_setzero_ps(); msum[r][i] = 0; }
  for (int64_t b = 0; b < nb; b++) {
    __m256i av[MA];
    float da[MA];
    for (int i = 0; i < MA; i++) {
      const uint8_t* ab = t.act + (size_t(m0 + i) * size_t(nb) + size_t(b)) * ablk;
      av[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab + qoff));
      da[i] = h2f(ab);
      if (has_min) {
        const float sa = h2f(ab + 2);
        for (int r = 0; r < NW; r++) msum[r][i] += mins[r * nb + b] * sa;
      }
    }
    for (int r = 0; r < NW; r++) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.at(r, b)));
      const __m256i wa = _mm256_abs_epi8(wv);
      const float dw = d[r * nb + b];
      for (int i = 0; i < MA; i++)
        acc[r][i] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[i]), _mm256_cvtepi32_ps(dot32_abs(wa, wv, av[i])), acc[r][i]);
    }
  }
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++) t.y[int64_t(m0 + i) * t.ldy + r] = hsum(acc[r][i]) + msum[r][i];
}

template <int NW>
void tile_block32(Levels q, const float* d, const float* mins, bool has_min, int64_t k, const TileArgs& t) {
  const int64_t nb = k / 32;
  int m = 0;
  for (; m + kActBlock <= t.n_act; m += kActBlock) block32_group<NW, kActBlock>(q, d, mins, has_min, nb, t, m);
  for (; m < t.n_act; m++) block32_group<NW, 1>(q, d, mins, has_min, nb, t, m);
}

// As block32_group, in the repacked kernels' order: one fused multiply-add per block, row and activation.
template <int NW, int MA>
void block32_seq_group(Levels q, const float* d, int64_t nb, const TileArgs& t, int m0) {
  __m128 acc[MA];
  for (int i = 0; i < MA; i++) acc[i] = _mm_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    __m256i av[MA];
    float da[MA];
    for (int i = 0; i < MA; i++) {
      const uint8_t* ab = t.act + (size_t(m0 + i) * size_t(nb) + size_t(b)) * sizeof(block_q8_0);
      av[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab + 2));
      da[i] = h2f(ab);
    }
    __m256i p[MA][4];
    float dw[4] = {0, 0, 0, 0};
    for (int r = 0; r < 4; r++) {
      if (r < NW) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q.at(r, b)));
        const __m256i wa = _mm256_abs_epi8(wv);
        dw[r] = d[r * nb + b];
        for (int i = 0; i < MA; i++) p[i][r] = dot32_abs(wa, wv, av[i]);
      } else {
        for (int i = 0; i < MA; i++) p[i][r] = _mm256_setzero_si256();
      }
    }
    const __m128 dwv = _mm_loadu_ps(dw);
    for (int i = 0; i < MA; i++)
      acc[i] = _mm_fmadd_ps(_mm_cvtepi32_ps(hsum4_i32(p[i][0], p[i][1], p[i][2], p[i][3])), _mm_mul_ps(dwv, _mm_set1_ps(da[i])), acc[i]);
  }
  for (int i = 0; i < MA; i++) {
    float out[4];
    _mm_storeu_ps(out, acc[i]);
    for (int r = 0; r < NW; r++) t.y[int64_t(m0 + i) * t.ldy + r] = out[r];
  }
}

// Any 32-element type against a single activation row, decoding each weight block in registers (no unpack
// buffer: for one activation row its round trip would cost as much as the dot product). Same arithmetic as
// block32_group / block32_seq_group. NW weight rows rows[r] (runs of the band, block32_lone_rows), outputs out[r].
// The type is a template argument so that block32_levels' switch folds away (a run-time type left it in the loop).
template <int kType, int NW>
void block32_single_row(const TileArgs& t, const uint8_t* const* rows, float* const* out) {
  const int64_t nb = t.k / 32;
  const size_t wblk = size_t(type_traits(kType).type_size);
  const bool has_min = kType == GGML_Q4_1 || kType == GGML_Q5_1;
  const size_t ablk = has_min ? sizeof(block_q8_1) : sizeof(block_q8_0);
  if (sequential_order(kType)) {
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* ab = t.act + size_t(b) * ablk;
      const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab + 2));
      const float da = h2f(ab);
      __m256i p[4];
      float dw[4] = {0, 0, 0, 0}, unused;
      for (int r = 0; r < 4; r++) {
        if (r < NW) {
          const __m256i wv = block32_levels(kType, rows[r] + size_t(b) * wblk, &dw[r], &unused);
          p[r] = dot32_abs(_mm256_abs_epi8(wv), wv, av);
        } else {
          p[r] = _mm256_setzero_si256();
        }
      }
      acc = _mm_fmadd_ps(_mm_cvtepi32_ps(hsum4_i32(p[0], p[1], p[2], p[3])), _mm_mul_ps(_mm_loadu_ps(dw), _mm_set1_ps(da)), acc);
    }
    float lanes[4];
    _mm_storeu_ps(lanes, acc);
    for (int r = 0; r < NW; r++) *out[r] = lanes[r];
    return;
  }
  __m256 acc[NW];
  float msum[NW];
  for (int r = 0; r < NW; r++) { acc[r] = _mm256_setzero_ps(); msum[r] = 0; }
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* ab = t.act + size_t(b) * ablk;
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab + (has_min ? 4 : 2)));
    const float da = h2f(ab);
    const float sa = has_min ? h2f(ab + 2) : 0.0f;
    for (int r = 0; r < NW; r++) {
      float dw, mw = 0;
      const __m256i wv = block32_levels(kType, rows[r] + size_t(b) * wblk, &dw, &mw);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da), _mm256_cvtepi32_ps(dot32_abs(_mm256_abs_epi8(wv), wv, av)), acc[r]);
      if (has_min) msum[r] += mw * sa;
    }
  }
  for (int r = 0; r < NW; r++) *out[r] = hsum(acc[r]) + msum[r];
}

// A band's weight row r (the quantized single-row kernels' row_at for lone_pass).
inline auto band_row(const TileArgs& t) {
  return [&t](int r) { return t.w + size_t(r) * t.wrow; };
}

// Every row of t (a 32-element type, one activation row) in four runs side by side (lone_row_runs): rows read one
// after another are one memory stream, which keeps too few cache lines in flight (AVX2 Q8_0 decode of Llama-1B's
// layers, rows in place: see the notes' `dec31`).
template <int kType>
void block32_lone_rows_of(const TileArgs& t) {
  lone_row_runs<4>(t.nw, t.k, lone_pass(band_row(t), t.y, [&](auto ns, const uint8_t* const* rows, float* const* out) {
    block32_single_row<kType, decltype(ns)::value>(t, rows, out);
  }), kCompactStreamMinK);
}
void block32_lone_rows(const TileArgs& t) {
  switch (t.wtype) {
    case GGML_Q8_0: return block32_lone_rows_of<GGML_Q8_0>(t);
    case GGML_Q4_0: return block32_lone_rows_of<GGML_Q4_0>(t);
    case GGML_Q4_1: return block32_lone_rows_of<GGML_Q4_1>(t);
    case GGML_Q5_0: return block32_lone_rows_of<GGML_Q5_0>(t);
    case GGML_Q5_1: return block32_lone_rows_of<GGML_Q5_1>(t);
    default: return block32_lone_rows_of<GGML_IQ4_NL>(t);
  }
}

#if IR_AVX512
// Q8_0 rows against one activation row, read in place (no packed copy needed): two weight rows per 512-bit
// vector, one in each half, so each half is block32_single_row's 8-lane accumulator for its row, operation for
// operation (the same exact dpbusd lane sums, the same dw·da product, the same fused multiply-add, the same
// horizontal sum). NP pairs of rows stream at once.
template <int NP>
void q8_0_lone_pairs(const uint8_t* const* rows, const uint8_t* act, int64_t nb, float* const* out) {
  __m512 acc[NP];
  for (int p = 0; p < NP; p++) acc[p] = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* ab = act + size_t(b) * sizeof(block_q8_0);
    const __m512i av = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab + 2)));
    const __m512 da = _mm512_set1_ps(h2f(ab));
    for (int p = 0; p < NP; p++) {
      const uint8_t* b0 = rows[2 * p] + size_t(b) * sizeof(block_q8_0);
      const uint8_t* b1 = rows[2 * p + 1] + size_t(b) * sizeof(block_q8_0);
      const __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2))),
                                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 2)), 1);
      // a·sign(w) (dot32_abs's _mm256_sign_epi8; where w = 0 the product with |w| is 0 whatever the byte)
      const __m512i signed_a = _mm512_mask_sub_epi8(av, _mm512_movepi8_mask(wv), zero, av);
      const __m512i sums = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(wv), signed_a);
      uint16_t d0, d1;
      std::memcpy(&d0, b0, 2);
      std::memcpy(&d1, b1, 2);
      const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(short(d0))), _mm_set1_epi16(short(d1)), 1));
      acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(sums), acc[p]);
    }
  }
  for (int p = 0; p < NP; p++) {
    // + 0.0f: block32_single_row adds its (zero) mins term, which turns a -0 sum into +0
    *out[2 * p] = hsum(_mm512_castps512_ps256(acc[p])) + 0.0f;
    *out[2 * p + 1] = hsum(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[p]), 1))) + 0.0f;
  }
}

// Every row of t (Q8_0, one activation row) in four runs side by side (lone_row_runs: the rows of one run are one
// memory stream, too few cache lines in flight), two pairs per pass; a leftover row is paired with itself.
void q8_0_lone_rows(const TileArgs& t) {
  const int64_t nb = t.k / QK8_0;
  lone_row_runs<4>(t.nw, t.k, lone_pass(band_row(t), t.y, [&](auto ns, const uint8_t* const* rows, float* const* out) {
    if constexpr (decltype(ns)::value == 4) {
      q8_0_lone_pairs<2>(rows, t.act, nb, out);
    } else {
      float spare;
      for (int s = 0; s < decltype(ns)::value; s++) {
        const uint8_t* pair[2] = {rows[s], rows[s]};
        float* pair_out[2] = {out[s], &spare};
        q8_0_lone_pairs<1>(pair, t.act, nb, pair_out);
      }
    }
  }), kCompactStreamMinK);
}
#endif

template <int NW>
void tile_block32_sequential(Levels q, const float* d, int64_t k, const TileArgs& t) {
  const int64_t nb = k / 32;
  int m = 0;
  for (; m + kActBlock <= t.n_act; m += kActBlock) block32_seq_group<NW, kActBlock>(q, d, nb, t, m);
  for (; m < t.n_act; m++) block32_seq_group<NW, 1>(q, d, nb, t, m);
}

// MA activation rows against NW K-quant weight rows (Q2_K, Q3_K, IQ4_XS: Q4_K, Q5_K and Q6_K batches take
// tile_ksuper_batch.cc or tile_ksuper_rows.cc). Per pair: exact integer sums per super-block, then either
// llama.cpp's vec_dot order (8 float lanes) or the repacked kernels' (one fused multiply-add per super-block, the
// mins likewise).
template <int NW, int MA>
void ksuper_group(const Scratch& s, bool has_min, bool sequential, int64_t k, const TileArgs& t, int m0) {
  const int64_t nsb = k / QK_K;
  const block_q8_K* arow[MA];
  for (int i = 0; i < MA; i++) arow[i] = reinterpret_cast<const block_q8_K*>(t.act) + size_t(m0 + i) * size_t(nsb);
  __m256 acc[NW][MA];
  float msum[NW][MA], seq[NW][MA];
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++) { acc[r][i] = _mm256_setzero_ps(); msum[r][i] = 0; seq[r][i] = 0; }
  for (int64_t sb = 0; sb < nsb; sb++) {
    __m256i isum[NW][MA];
    for (int r = 0; r < NW; r++)
      for (int i = 0; i < MA; i++) isum[r][i] = _mm256_setzero_si256();
    for (int c = 0; c < QK_K / 32; c++) {
      __m256i av[MA];
      for (int i = 0; i < MA; i++) av[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(arow[i][sb].qs + 32 * c));
      for (int r = 0; r < NW; r++) {
        const size_t qi = size_t(r) * size_t(k) + size_t(sb) * QK_K + 32 * size_t(c);
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.q.data() + qi));
        const __m256i wa = _mm256_abs_epi8(wv);
        const __m256i sv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.sc16.data() + qi / 2));
        for (int i = 0; i < MA; i++)
          isum[r][i] = _mm256_add_epi32(isum[r][i], _mm256_madd_epi16(_mm256_maddubs_epi16(wa, _mm256_sign_epi8(av[i], wv)), sv));
      }
    }
    for (int i = 0; i < MA; i++) {
      const block_q8_K& A = arow[i][sb];
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(A.bsums));
      for (int r = 0; r < NW; r++) {
        const float dd = s.d[r * nsb + sb] * A.d;
        if (sequential) seq[r][i] = std::fma(float(hsum_i32(isum[r][i])), dd, seq[r][i]);
        else acc[r][i] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum[r][i]), acc[r][i]);
        if (has_min) {
          const __m256i mv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.mn.data() + (r * nsb + sb) * 16));
          const float mins = float(hsum_i32(_mm256_madd_epi16(mv, bs)));
          // Fused, not left to the compiler's contraction of a + b * c.
          msum[r][i] = std::fma(mins, s.m[r * nsb + sb] * A.d, msum[r][i]);
        }
      }
    }
  }
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < MA; i++)
      t.y[int64_t(m0 + i) * t.ldy + r] = (sequential ? seq[r][i] : hsum(acc[r][i])) - msum[r][i];
}

#if IR_AVX512
// Q4_K and Q5_K against one activation row, reading the weight blocks in place (no unpacking into scratch): for
// decode the unpacked copy is used once, so building it cost more than the dot products. The integer sums are
// exact in any order, so they run 64 weights per instruction: a 32-byte chunk of nibbles broadcast to both halves
// of a vector (low nibbles for sub-block 2c, high ones for 2c+1, matching the 64 activations of the chunk; Q5_K's
// fifth bits from the broadcast qh likewise), pairs summed by maddubs (at most 2·31·128, no saturation) and
// weighted by each half's sub-block scale with madd.

// vpshufb masks: scale 2c as int16 in the low 16 int16 lanes, 2c+1 in the high 16 (bytes 4m..4m+3 of each
// 32-element run take their sub-block's scale). A byte shuffle is cheaper than the word permute (vpermw) it
// replaced: measured 3-4% more Q4_K rows per CPU-second, one thread, weights in L2.
struct K4ScaleIndex {
  __m512i c[4];
  K4ScaleIndex() {
    for (int i = 0; i < 4; i++)
      c[i] = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(short(0xFF00 | (2 * i))), _mm512_set1_epi16(short(0xFF00 | (2 * i + 1))));
  }
};

// Lanes m and 8 + m added: the two 32-element runs of a 64-level vector, as llama.cpp's 8 lanes hold them.
inline __m256i add_runs(__m512i v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); }

// Σ scale·Σ w·a of one super-block in 16 int32 lanes: lane m (< 8) holds bytes 4m..4m+3 of the even sub-blocks,
// lane 8 + m those of the odd ones. qh is null for Q4_K.
template <bool kFive>
inline __m512i k4_isum(const uint8_t* qs, const uint8_t* qh, const int8_t* aq, __m512i scales, const K4ScaleIndex& index) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i nibble_shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
  const __m512i h = kFive ? _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh))) : __m512i{};
  __m512i isum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};  // two chains of vpdpwssd, not one of four
  for (int c = 0; c < 4; c++) {
    const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c)));
    __m512i q = _mm512_and_si512(_mm512_srlv_epi64(v, nibble_shift), low4);
    if (kFive) {  // bit 2c of qh for the low half, 2c+1 for the high half, into bit 4 of each byte
      const __m512i bit = _mm512_and_si512(_mm512_srlv_epi64(h, _mm512_set_epi64(2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c, 2 * c, 2 * c, 2 * c)),
                                           _mm512_set1_epi8(1));
      q = _mm512_or_si512(q, _mm512_slli_epi16(bit, 4));
    }
    // vpdpwssd: exactly madd + add (the int16 products and pair sums are exact), one instruction.
    isum[c & 1] = _mm512_dpwssd_epi32(isum[c & 1], _mm512_maddubs_epi16(q, _mm512_loadu_si512(aq + 64 * c)), _mm512_shuffle_epi8(scales, index.c[c]));
  }
  return _mm512_add_epi32(isum[0], isum[1]);
}
// Its two runs added: 8 int32 lanes, lane m holding bytes 4m..4m+3 of every 32-element run.
template <bool kFive>
inline __m256i k4_isum8(const uint8_t* qs, const uint8_t* qh, const int8_t* aq, uint64_t scale_bytes, const K4ScaleIndex& index) {
  return add_runs(k4_isum<kFive>(qs, qh, aq, _mm512_set1_epi64(int64_t(scale_bytes)), index));
}
#else
// AVX2: vpshufb masks, c[j] = sub-block j's scale as every int16 lane (byte j of the scale bytes, zero-extended).
struct K4ScaleIndex {
  __m256i c[8];
  K4ScaleIndex() {
    for (int j = 0; j < 8; j++) c[j] = _mm256_set1_epi16(short(0xFF00 | j));
  }
};
// Σ scale·Σ w·a of one super-block in 8 int32 lanes, 32 levels per vector as llama.cpp's AVX2 ggml_vec_dot_q4_K:
// the low nibbles of a 32-byte chunk c are sub-block 2c, the high ones 2c + 1 (Q5_K: bits 2c and 2c + 1 of qh as
// their fifth bits); pairs summed by maddubs (at most 2·31·128, no saturation), weighted by madd.
template <bool kFive>
inline __m256i k4_isum8(const uint8_t* qs, const uint8_t* qh, const int8_t* aq, uint64_t scale_bytes, const K4ScaleIndex& index) {
  const __m256i scales = _mm256_set1_epi64x(int64_t(scale_bytes));
  const __m256i h = kFive ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)) : _mm256_setzero_si256();
  __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
  for (int c = 0; c < 4; c++) {
    const auto [lo, hi] = k4_run(qs, h, c, kFive);
    const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(aq + 64 * c))),
                                           _mm256_shuffle_epi8(scales, index.c[2 * c]));
    const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(aq + 64 * c + 32))),
                                           _mm256_shuffle_epi8(scales, index.c[2 * c + 1]));
    isum[c & 1] = _mm256_add_epi32(isum[c & 1], _mm256_add_epi32(p_lo, p_hi));
  }
  return _mm256_add_epi32(isum[0], isum[1]);
}

#endif

// Min_j·bsums of a Q4_K/Q5_K super-block as 8 int32 lanes (min_j for bsums 2j and 2j + 1); u: k4_scales_mins.
inline __m256i k4_mprod(const uint32_t u[4], const block_q8_K& A) {
  const __m128i mins8 = _mm_cvtsi64_si128(int64_t(uint64_t(u[2]) | (uint64_t(u[3]) << 32)));
  const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
  return _mm256_madd_epi16(mins16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(A.bsums)));
}
inline uint64_t k4_scale_bytes(const uint32_t u[4]) { return uint64_t(u[0]) | (uint64_t(u[1]) << 32); }

// A Q4_K super-block's two exact integers for one weight row: Σ scale·Σ w·a as 8 int32 lanes (k4_isum8) and
// min_j·bsums as 8 (their sums are taken later, in any order: integers).
struct Q4kSums {
  __m256i isum;
  __m256i mprod;
};
inline Q4kSums q4k_sums(const block_q4_K& B, const block_q8_K& A, const K4ScaleIndex& index) {
  uint32_t u[4];
  k4_scales_mins(B.scales, u);
  return {k4_isum8<false>(B.qs, nullptr, A.qs, k4_scale_bytes(u), index), k4_mprod(u, A)};
}
// Per 128-bit half: the isum's lane pairs, then the mins' (a row's partial sums in 4 int32 lanes per half).
inline __m256i q4k_pairs(const Q4kSums& x) { return _mm256_hadd_epi32(x.isum, x.mprod); }
inline uint32_t q4k_d_dmin(const block_q4_K& B) {
  uint32_t d_dmin;
  std::memcpy(&d_dmin, &B.d, 4);  // d, then dmin
  return d_dmin;
}

// Q4_K: llama.cpp's repacked single-row order (ggml_gemv_q4_K_8x8_q8_K, as the batch kernels sum a row): per super-block the exact integers, then
// one fused multiply-add each. NS weight rows go side by side (runs of the band, row_streams), their super-blocks'
// integers reduced in one horizontal-add tree and their fused multiply-adds as the lanes of one vector: row s's
// Σ scale·Σ w·a in lane 2s, its Σ min·bsums in lane 2s + 1. Each lane does the scalar operations (float(sum), d·da
// rounded, fma), so every row keeps its bits. Per super-block and row the tree and float steps were ~30% of the
// kernel; in lanes 2 rows read 1.12x and 4 rows 1.19x the bytes per CPU-second of one (3072-wide rows in L2).
template <int NS>
void q4k_rows(const uint8_t* const* rows, const block_q8_K* act, int64_t nsb, float* const* out, const K4ScaleIndex& index) {
  static_assert(NS == 1 || NS == 4, "rows in lanes: 1 or 4");
  // Lanes (seq, msum) of row s are 2s and 2s + 1: acc for 1 row, acc4 for 4.
  __m128 acc = _mm_setzero_ps();
  __m256 acc4 = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < nsb; sb++) {
    const block_q8_K& A = act[sb];
    const block_q4_K* B[NS];
    for (int s = 0; s < NS; s++) B[s] = reinterpret_cast<const block_q4_K*>(rows[s]) + sb;
    if constexpr (NS == 1) {
      const __m256i h = q4k_pairs(q4k_sums(*B[0], A, index));
      __m128i both = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
      both = _mm_hadd_epi32(both, both);  // [isum, mins, isum, mins]
      const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(int(q4k_d_dmin(*B[0])))), _mm_set1_ps(A.d));
      acc = _mm_fmadd_ps(_mm_cvtepi32_ps(both), dd, acc);
    } else {
      const __m256i g01 = _mm256_hadd_epi32(q4k_pairs(q4k_sums(*B[0], A, index)), q4k_pairs(q4k_sums(*B[1], A, index)));
      const __m256i g23 = _mm256_hadd_epi32(q4k_pairs(q4k_sums(*B[2], A, index)), q4k_pairs(q4k_sums(*B[3], A, index)));
      const __m256i tot = _mm256_add_epi32(_mm256_permute2x128_si256(g01, g23, 0x20), _mm256_permute2x128_si256(g01, g23, 0x31));
      const __m128i dw = _mm_set_epi32(int(q4k_d_dmin(*B[3])), int(q4k_d_dmin(*B[2])), int(q4k_d_dmin(*B[1])), int(q4k_d_dmin(*B[0])));
      const __m256 dd = _mm256_mul_ps(_mm256_cvtph_ps(dw), _mm256_set1_ps(A.d));
      acc4 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot), dd, acc4);
    }
  }
  float lanes[2 * NS > 4 ? 2 * NS : 4];
  if constexpr (NS == 4) _mm256_storeu_ps(lanes, acc4);
  else _mm_storeu_ps(lanes, acc);
  for (int s = 0; s < NS; s++) *out[s] = lanes[2 * s] - lanes[2 * s + 1];
}

// A band of lone Q4_K rows in 4 runs side by side, whatever the row length: the K-quants' rows are never short
// (256+ elements; Qwen3-0.6B's 1024-wide Q4_K row is 576 bytes), and one run through rows read one after another
// keeps too few cache lines in flight. One thread, Qwen3-0.6B's layer shapes from memory (bench/native/
// ksuper-lone-rows.cc), loaded machine: 1.7x the GB per CPU-second of one run (6.2-6.8 -> 10.3-11.8), 1.35x in
// cache (the 4 rows' reductions share one tree); Llama-3.2-1B's shapes 1.2x against 2 runs for bands under 2 MB.
void q4k_single_row(const TileArgs& t) {
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  const K4ScaleIndex index;
  row_streams<4>(t.nw, lone_pass(band_row(t), t.y, [&](auto ns, const uint8_t* const* rows, float* const* out) {
    q4k_rows<decltype(ns)::value>(rows, act, nsb, out, index);
  }));
}

// Q5_K: llama.cpp's ggml_vec_dot_q5_K order, as the batch kernels sum a row: 8 float lanes, one fused multiply-add per
// lane and super-block (the even and odd sub-blocks' lanes added first, exactly), the mins apart; lanes summed at
// the end. NS rows side by side (runs of the band), each with its own accumulators.
template <int NS>
void q5k_rows(const uint8_t* const* rows, const block_q8_K* act, int64_t nsb, float* const* out, const K4ScaleIndex& index) {
  __m256 acc[NS];
  float msum[NS];
  for (int s = 0; s < NS; s++) {
    acc[s] = _mm256_setzero_ps();
    msum[s] = 0;
  }
  for (int64_t sb = 0; sb < nsb; sb++) {
    const block_q8_K& A = act[sb];
#pragma GCC unroll 4  // unrolled, as q6k_rows: a rolled loop's loads cycle over the runs
    for (int s = 0; s < NS; s++) {
      const block_q5_K& B = reinterpret_cast<const block_q5_K*>(rows[s])[sb];
      uint32_t u[4];
      k4_scales_mins(B.scales, u);
      const __m256i isum8 = k4_isum8<true>(B.qs, B.qh, A.qs, k4_scale_bytes(u), index);
      const float dd = h2f(reinterpret_cast<const uint8_t*>(&B.d)) * A.d;
      acc[s] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum8), acc[s]);
      const float dm = h2f(reinterpret_cast<const uint8_t*>(&B.dmin)) * A.d;
      msum[s] = msum[s] + dm * float(hsum_i32(k4_mprod(u, A)));
    }
  }
  for (int s = 0; s < NS; s++) *out[s] = hsum(acc[s]) - msum[s];
}

// A band of lone Q5_K rows in 4 runs side by side, as Q4_K (q4k_single_row).
void q5k_single_row(const TileArgs& t) {
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  const K4ScaleIndex index;
  row_streams<4>(t.nw, lone_pass(band_row(t), t.y, [&](auto ns, const uint8_t* const* rows, float* const* out) {
    q5k_rows<decltype(ns)::value>(rows, act, nsb, out, index);
  }));
}

// Q6_K against one activation row, in place: llama.cpp's ggml_vec_dot_q6_K order, as the batch kernels compute it
// (8 int32 lanes per super-block, lane m holding bytes 4m..4m+3 of every 32-element run, the
// levels unsigned and 32·Σ scale·bsums taken off per lane; one fused multiply-add per lane and super-block; the
// lanes summed at the end). Element l of each quarter of a half super-block: a nibble of ql and two bits of qh.
#if IR_AVX512
// 64 levels per vector: a half super-block's 64 bytes of ql give the low nibbles of elements 0..63 and the high
// ones of 64..127, two bits of the broadcast qh each (moved into bits 4-5 by 64-bit shifts, the bits that cross
// bytes masked off); the two 32-element runs of a vector are added lane by lane.
struct Q6kScaleIndex {
  __m512i c[4];  // vector j, int16 lane k (elements 2k, 2k+1 of its 64): scale 4j + k/8
  Q6kScaleIndex() {
    for (int j = 0; j < 4; j++)
      c[j] = _mm512_add_epi16(_mm512_set1_epi16(short(4 * j)), _mm512_srli_epi16(
          _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3));
  }
};
inline __m256i q6k_isum(const block_q6_K& B, const block_q8_K& A, __m256i sc16, const Q6kScaleIndex& index) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
  const __m512i shift_low = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);   // qh bits 0-1 | 2-3 up to 4-5
  const __m512i shift_high = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);  // qh bits 4-5 | 6-7 down to 4-5
  const __m512i scales = _mm512_castsi256_si512(sc16);
  __m512i isum = _mm512_setzero_si512();
  for (int half = 0; half < 2; half++) {
    const __m512i l = _mm512_loadu_si512(B.ql + 64 * half);
    const __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.qh + 32 * half)));
    const __m512i q_low = _mm512_or_si512(_mm512_and_si512(l, low4), _mm512_and_si512(_mm512_sllv_epi64(h, shift_low), bits45));
    const __m512i q_high = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                           _mm512_and_si512(_mm512_srlv_epi64(h, shift_high), bits45));
    const __m512i a_low = _mm512_loadu_si512(A.qs + 128 * half), a_high = _mm512_loadu_si512(A.qs + 128 * half + 64);
    isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q_low, a_low), _mm512_permutexvar_epi16(index.c[2 * half], scales));
    isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(q_high, a_high), _mm512_permutexvar_epi16(index.c[2 * half + 1], scales));
  }
  return add_runs(isum);
}
#else
// AVX2: 32 levels per vector, as llama.cpp's AVX2 ggml_vec_dot_q6_K. The scales go even ones in the low 128-bit
// half and odd ones in the high half (as int16), so that one in-lane vpshufb per run gives its first 16 elements
// scale 2r and its last 16 scale 2r + 1.
struct Q6kScaleIndex {
  __m128i even_odd;  // byte shuffle of the 16 scales: 0, 2, ..., 14, 1, 3, ..., 15
  __m256i c[8];      // run r: int16 lane k of each half = position r of that half
  Q6kScaleIndex() {
    even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (int r = 0; r < 8; r++) c[r] = _mm256_set1_epi16(short(((2 * r + 1) << 8) | (2 * r)));
  }
};
inline __m256i q6k_isum(const block_q6_K& B, const block_q8_K& A, __m256i, const Q6kScaleIndex& index) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
  const __m256i scales = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.scales)), index.even_odd));
  __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
  for (int half = 0; half < 2; half++) {
    const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.ql + 64 * half));
    const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.ql + 64 * half + 32));
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(B.qh + 32 * half));
    const __m256i q[4] = {
        _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_and_si256(_mm256_slli_epi16(h, 4), bits45)),
        _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_and_si256(_mm256_slli_epi16(h, 2), bits45)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(h, bits45)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4), _mm256_and_si256(_mm256_srli_epi16(h, 2), bits45))};
    for (int i = 0; i < 4; i++) {
      const int run = 4 * half + i;
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(A.qs + 32 * run));
      isum[i & 1] = _mm256_add_epi32(isum[i & 1], _mm256_madd_epi16(_mm256_maddubs_epi16(q[i], a), _mm256_shuffle_epi8(scales, index.c[run])));
    }
  }
  return _mm256_add_epi32(isum[0], isum[1]);
}
#endif

template <int NS>
void q6k_rows(const uint8_t* const* rows, const block_q8_K* act, int64_t nsb, float* const* out, const Q6kScaleIndex& index) {
  __m256 acc[NS];
  for (int s = 0; s < NS; s++) acc[s] = _mm256_setzero_ps();
  for (int64_t sb = 0; sb < nsb; sb++) {
    const block_q8_K& A = act[sb];
#pragma GCC unroll 4  // a rolled loop left one load instruction cycling over the runs: 2x slower from memory
    for (int s = 0; s < NS; s++) {
      const block_q6_K& B = reinterpret_cast<const block_q6_K*>(rows[s])[sb];
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.scales)));
      __m256i isum8 = q6k_isum(B, A, sc16, index);
      const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(A.bsums));
      isum8 = _mm256_sub_epi32(isum8, _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
      acc[s] = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(B.d) * A.d), _mm256_cvtepi32_ps(isum8), acc[s]);
    }
  }
  for (int s = 0; s < NS; s++) *out[s] = hsum(acc[s]);
}

void q6k_single_row(const TileArgs& t) {
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  const Q6kScaleIndex index;
  // Memory-bound (in L2 ~1.7x Q4_K's bytes per CPU-second): 4 runs, as F16/BF16, but for every row length, as
  // Q4_K (q4k_single_row): 3072/8192-wide rows from memory, every other band, 1.1-1.25x the GB per CPU-second of
  // one run; Qwen3-0.6B's 1024-wide head (151936 rows, ksuper-lone-rows) 1.65x, loaded machine (AVX-512).
  row_streams<4>(t.nw, lone_pass(band_row(t), t.y, [&](auto ns, const uint8_t* const* rows, float* const* out) {
    q6k_rows<decltype(ns)::value>(rows, act, nsb, out, index);
  }));
}

// The in-place single-row kernel for a K-quant type, or null.
using TileFn = void (*)(const TileArgs&);
TileFn ksuper_single_row(int wtype) {
  switch (wtype) {
    case GGML_Q4_K: return q4k_single_row;
    case GGML_Q5_K: return q5k_single_row;
    case GGML_Q6_K: return q6k_single_row;
    default: return nullptr;
  }
}

template <int NW>
void tile_ksuper(const Scratch& s, bool has_min, bool sequential, int64_t k, const TileArgs& t) {
  int m = 0;
  for (; m + kActBlockK <= t.n_act; m += kActBlockK) ksuper_group<NW, kActBlockK>(s, has_min, sequential, k, t, m);
  for (; m < t.n_act; m++) ksuper_group<NW, 1>(s, has_min, sequential, k, t, m);
}

template <template <int> class Fn, typename... Args>
void by_rows(int nw, Args&&... args) {
  switch (nw) {
    case 1: Fn<1>::run(args...); break;
    case 2: Fn<2>::run(args...); break;
    case 3: Fn<3>::run(args...); break;
    default: Fn<4>::run(args...); break;
  }
}
template <int NW> struct FloatTile { template <typename... A> static void run(A&&... a) { tile_float<NW>(a...); } };
template <int NW> struct Block32Tile { template <typename... A> static void run(A&&... a) { tile_block32<NW>(a...); } };
template <int NW> struct Block32SeqTile { template <typename... A> static void run(A&&... a) { tile_block32_sequential<NW>(a...); } };
template <int NW> struct KSuperTile { template <typename... A> static void run(A&&... a) { tile_ksuper<NW>(a...); } };

// Max |x| over 32 floats.
inline float absmax32(const float* x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
  for (int j = 8; j < 32; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// 32 floats times `scale`, rounded half to even, packed to int8 in order; returns the four int32 partial sums.
inline __m256i round_pack32(const float* x, float scale, int8_t* out) {
  const __m256 mul = _mm256_set1_ps(scale);
  __m256i i[4];
  for (int j = 0; j < 4; j++)
    i[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * j), mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  return _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
}

}  // namespace

// fp32_to_bf16 on 8 lanes (round to nearest even, NaN made quiet): the bf16 bits in each dword's low half.
inline __m256i bf16_of(__m256 x) {
  const __m256i u = _mm256_castps_si256(x);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
  return _mm256_blendv_epi8(rounded, quiet, nan);
}

#if !IR_AVX512
void bf16_split_row(const float* x, int64_t k, float* out) {
  const int64_t k16 = k & ~int64_t(15);
  for (int64_t g = 0; g < k16; g += 16) {
    // Each element's rounded value (its bf16 bits shifted up), then the odd elements' lanes and the even ones':
    // per 128-bit half [a1 a3 b1 b3 | a5 a7 b5 b7], put in order by a 64-bit permute.
    const __m256 a = _mm256_castsi256_ps(_mm256_slli_epi32(bf16_of(_mm256_loadu_ps(x + g)), 16));
    const __m256 b = _mm256_castsi256_ps(_mm256_slli_epi32(bf16_of(_mm256_loadu_ps(x + g + 8)), 16));
    const auto in_order = [](__m256 v) { return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8)); };
    _mm256_storeu_ps(out + g, in_order(_mm256_shuffle_ps(a, b, 0xDD)));
    _mm256_storeu_ps(out + g + 8, in_order(_mm256_shuffle_ps(a, b, 0x88)));
  }
  for (int64_t i = k16; i < k; i++) out[i] = bf16_to_fp32(fp32_to_bf16(x[i]));
}
#endif

bool quantize_activations(int encoding, const float* x, int64_t k, uint8_t* out) {
  switch (encoding) {
    case GGML_Q8_0: case GGML_Q8_1: {
      const bool q81 = encoding == GGML_Q8_1;
      const size_t bsize = q81 ? sizeof(block_q8_1) : sizeof(block_q8_0);
      for (int64_t b = 0; b < k / 32; b++, x += 32) {
        uint8_t* blk = out + size_t(b) * bsize;
        const float amax = absmax32(x);
        const float d = amax / 127.f;
        const __m256i sums = round_pack32(x, amax != 0.0f ? 127.f / amax : 0.0f, reinterpret_cast<int8_t*>(blk + (q81 ? 4 : 2)));
        const uint16_t dh = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        std::memcpy(blk, &dh, 2);
        if (q81) {
          const uint16_t sh = _cvtss_sh(d * float(hsum_i32(sums)), _MM_FROUND_TO_NEAREST_INT);
          std::memcpy(blk + 2, &sh, 2);
        }
      }
      return true;
    }
    case GGML_Q8_K: {
      for (int64_t b = 0; b < k / QK_K; b++, x += QK_K) {
        auto* y = reinterpret_cast<block_q8_K*>(out) + b;
        float amax = 0;
        for (int j = 0; j < QK_K; j += 32) amax = std::max(amax, absmax32(x + j));
        if (amax == 0) {
          std::memset(y, 0, sizeof(block_q8_K));
          continue;
        }
        int first = 0;  // the reference takes the sign of the first element reaching the maximum magnitude
        while (std::fabs(x[first]) != amax) first++;
        const float iscale = -127.f / x[first];
        for (int j = 0; j < QK_K; j += 32) round_pack32(x + j, iscale, y->qs + j);
        for (int j = 0; j < 16; j++) {
          const __m128i q16 = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(y->qs + 16 * j)));
          const __m128i q16b = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(y->qs + 16 * j + 8)));
          __m128i s = _mm_madd_epi16(_mm_add_epi16(q16, q16b), _mm_set1_epi16(1));
          s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
          s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
          y->bsums[j] = int16_t(_mm_cvtsi128_si32(s));
        }
        y->d = 1 / iscale;
      }
      return true;
    }
    case GGML_F16: {
      auto* o = reinterpret_cast<uint16_t*>(out);
      int64_t i = 0;
      for (; i + 8 <= k; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
      for (; i < k; i++) o[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
      return true;
    }
    case GGML_BF16: {
      auto* o = reinterpret_cast<uint16_t*>(out);
      int64_t i = 0;
      for (; i + 8 <= k; i += 8) {
        const __m256i h = bf16_of(_mm256_loadu_ps(x + i));  // 8 values < 2^16
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i), _mm256_castsi256_si128(packed));
      }
      for (; i < k; i++) o[i] = fp32_to_bf16(x[i]);
      return true;
    }
    default: return false;
  }
}

namespace {

// exp(x) as ggml_v_expf computes it (the Arm optimized-routines polynomial, |error| < 1.5 ulp): the exact sequence
// of roundings matters, because SiLU feeds an 8-bit quantizer whose rounding flips on 1-ulp differences.
#if IR_AVX512
inline __m512 expf_ggml(__m512 x) {
  const __m512 shift = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
  const __m512 n = _mm512_sub_ps(z, shift);
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 hi = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f));
  const __m512 mid = _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f));
  const __m512 lo = _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f));
  const __m512 poly = _mm512_fmadd_ps(_mm512_fmadd_ps(hi, u, mid), u, lo);
  const __m512 res = _mm512_scalef_ps(poly, n);
  const __mmask16 out_of_range = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
  if (_mm512_kortestz(out_of_range, out_of_range)) return res;
  const __m512 saturated = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                                _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(out_of_range, res, saturated);
}

inline __m512 silu_ggml(__m512 x) {
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1), expf_ggml(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}
constexpr int kSiluLanes = 16;
inline void swiglu_vec(const float* g, const float* u, float* y) {
  _mm512_storeu_ps(y, _mm512_mul_ps(silu_ggml(_mm512_loadu_ps(g)), _mm512_loadu_ps(u)));
}
#else
// The AVX-512 form above in 256-bit vectors (llama.cpp-zen4's arithmetic, not ggml's AVX2 form: expf_ggml.h): the
// same polynomial, scaled by 2^n in one rounding multiply while 2^n is a normal float (|n| <= 126), else lane by
// lane as vscalefps does (scalef_ggml).
inline __m256 expf_ggml(__m256 x) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
  const __m256 n = _mm256_sub_ps(z, shift);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 hi = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f));
  const __m256 mid = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f));
  const __m256 lo = _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f));
  const __m256 poly = _mm256_fmadd_ps(_mm256_fmadd_ps(hi, u, mid), u, lo);
  // 2^n: n in z's low bits, moved into the exponent field, plus 1.0f's exponent bias.
  const __m256 pow2n = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(z), 23), _mm256_castps_si256(_mm256_set1_ps(1))));
  const __m256 wide = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(126), _CMP_NLE_UQ);  // or NaN
  if (!_mm256_movemask_ps(wide)) return _mm256_mul_ps(poly, pow2n);
  float p[8], e[8];
  _mm256_storeu_ps(p, poly);
  _mm256_storeu_ps(e, n);
  for (int i = 0; i < 8; i++) p[i] = scalef_ggml(p[i], e[i]);
  return _mm256_loadu_ps(p);
}

inline __m256 silu_ggml(__m256 x) {
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1), expf_ggml(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}
// 16 lanes per step as the AVX-512 variant (and llama.cpp there) takes them: the elements past the last 16 go to
// libm's expf in both.
constexpr int kSiluLanes = 16;
inline void swiglu_vec(const float* g, const float* u, float* y) {
  for (int h = 0; h < 16; h += 8)
    _mm256_storeu_ps(y + h, _mm256_mul_ps(silu_ggml(_mm256_loadu_ps(g + h)), _mm256_loadu_ps(u + h)));
}
#endif

}  // namespace

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + kSiluLanes <= n; i += kSiluLanes) swiglu_vec(gate + i, up + i, out + i);
  for (; i < n; i++) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

double soft_max_exp(const float* x, float* y, int n, float max) {
  int i = 0;
  double sum = 0;
#if IR_AVX512
  for (; i + 15 < n; i += 16) {
    const __m512 v = expf_ggml(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(max)));
    _mm512_storeu_ps(y + i, v);
    sum += double(_mm512_reduce_add_ps(v));
  }
#else
  // 16 values per step, summed in _mm512_reduce_add_ps's tree (the 256-bit halves, the 128-bit halves, lanes 0+2
  // and 1+3, then those two), as the AVX-512 variant sums them.
  for (; i + 15 < n; i += 16) {
    const __m256 v0 = expf_ggml(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(max)));
    const __m256 v1 = expf_ggml(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), _mm256_set1_ps(max)));
    _mm256_storeu_ps(y + i, v0);
    _mm256_storeu_ps(y + i + 8, v1);
    const __m256 s8 = _mm256_add_ps(v1, v0);
    __m128 h = _mm_add_ps(_mm256_extractf128_ps(s8, 1), _mm256_castps256_ps128(s8));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    sum += double(_mm_cvtss_f32(h));
  }
#endif
  for (; i < n; i++) {
    const float v = std::exp(x[i] - max);
    sum += double(v);
    y[i] = v;
  }
  return sum;
}

bool supports(int wtype) {
  switch (wtype) {
    case GGML_F32: case GGML_F16: case GGML_BF16: case GGML_Q4_0: case GGML_Q4_1: case GGML_Q5_0: case GGML_Q5_1:
    case GGML_Q8_0: case GGML_IQ4_NL: case GGML_Q2_K: case GGML_Q3_K: case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K:
    case GGML_IQ4_XS: return true;
    default: return false;
  }
}

void tile(const TileArgs& t) {
#if IR_AVX512
  if (lane_rows_apply(t)) {
    const int done = lane_rows(t);
    if (done == t.nw) return;
    TileArgs rest = t;
    rest.w = t.w + size_t(done) * t.wrow;
    rest.nw = t.nw - done;
    rest.y = t.y + done;
    return tile(rest);
  }
  if (ksuper_batch_supports(t.wtype) && (!t.single_row || t.gemm_order)) {
    tile_ksuper_batch(t);
    return;
  }
  if (f16_batch_applies(t)) {
    tile_f16_batch(t);
    return;
  }
  if (bf16_dot_applies(t)) {
    tile_bf16(t);
    return;
  }
#endif
#if !IR_AVX512
  if (half_batch_applies(t)) {
    half_batch(t);
    return;
  }
#endif
  if (t.single_row && t.wtype == GGML_F16) {
    half_single_row<GGML_F16>(t);
    return;
  }
#if !IR_AVX512
  if (t.single_row && t.wtype == GGML_BF16) {
    bf16_lone_rows(t);
    return;
  }
#endif
  if (family(t.wtype) == Family::KSuper && t.single_row && !t.gemm_order) {
    if (const TileFn single = ksuper_single_row(t.wtype)) {
      single(t);
      return;
    }
  }
#if IR_AVX512
  if (t.wtype == GGML_Q8_0 && t.n_act == 1) {
    q8_0_lone_rows(t);
    return;
  }
#endif
  if (family(t.wtype) == Family::Block32 && t.single_row) {
    block32_lone_rows(t);
    return;
  }
#if !IR_AVX512
  if (block32_few_applies(t)) {
    tile_block32_few(t);
    return;
  }
  if (ksuper_rows_applies(t)) {
    tile_ksuper_rows(t);
    return;
  }
#endif
  thread_local Scratch s;
  for (int r0 = 0; r0 < t.nw; r0 += kMaxRows) {
    const int nw = t.nw - r0 < kMaxRows ? t.nw - r0 : kMaxRows;
    TileArgs sub = t;
    sub.w = t.w + size_t(r0) * t.wrow;
    sub.nw = nw;
    sub.y = t.y + r0;
    switch (family(t.wtype)) {
      case Family::Float: {
        const float* rows[kMaxRows];
        if (t.wtype == GGML_F32) {
          for (int r = 0; r < nw; r++) rows[r] = reinterpret_cast<const float*>(sub.w + size_t(r) * t.wrow);
        } else {
          if (s.f.size() < size_t(t.k) * kMaxRows) s.f.resize(size_t(t.k) * kMaxRows);
          for (int r = 0; r < nw; r++) {
            unpack_float(t.wtype, sub.w + size_t(r) * t.wrow, t.k, s.f.data() + size_t(r) * size_t(t.k));
            rows[r] = s.f.data() + size_t(r) * size_t(t.k);
          }
        }
        by_rows<FloatTile>(nw, rows, t.k, sub);
        break;
      }
      case Family::Block32: {
        if (s.q.size() < size_t(t.k) * kMaxRows) s.reserve(t.k);
        const int64_t nb = t.k / 32;
        Levels lv{s.q.data(), size_t(t.k), 32};
        if (t.wtype == GGML_Q8_0) {  // already 8-bit: read the levels in place, convert only the scales
          lv = Levels{reinterpret_cast<const int8_t*>(sub.w + 2), t.wrow, sizeof(block_q8_0)};
          for (int r = 0; r < nw; r++)
            for (int64_t b = 0; b < nb; b++) s.d[r * nb + b] = h2f(sub.w + size_t(r) * t.wrow + size_t(b) * sizeof(block_q8_0));
        } else {
          for (int r = 0; r < nw; r++)
            unpack_block32(t.wtype, sub.w + size_t(r) * t.wrow, nb, s.q.data() + size_t(r) * size_t(t.k),
                           s.d.data() + r * nb, s.m.data() + r * nb);
        }
        const bool has_min = t.wtype == GGML_Q4_1 || t.wtype == GGML_Q5_1;
        if (sequential_order(t.wtype)) by_rows<Block32SeqTile>(nw, lv, s.d.data(), t.k, sub);
        else by_rows<Block32Tile>(nw, lv, s.d.data(), s.m.data(), has_min, t.k, sub);
        break;
      }
      case Family::KSuper: {
        if (s.q.size() < size_t(t.k) * kMaxRows) s.reserve(t.k);
        const int64_t nsb = t.k / QK_K;
        for (int r = 0; r < nw; r++)
          unpack_ksuper(t.wtype, sub.w + size_t(r) * t.wrow, nsb, s.q.data() + size_t(r) * size_t(t.k),
                        s.sc16.data() + size_t(r) * size_t(t.k) / 2, s.mn.data() + r * nsb * 16, s.d.data() + r * nsb,
                        s.m.data() + r * nsb);
        by_rows<KSuperTile>(nw, s, t.wtype == GGML_Q2_K, sequential_order(t.wtype), t.k, sub);
        break;
      }
    }
  }
}

}  // namespace IR_SIMD_NS
}  // namespace ir
