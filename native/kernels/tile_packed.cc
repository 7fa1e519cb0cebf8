// AVX-512 VNNI kernels for packed Q8_0, Q5_0, Q5_1, Q4_0 and IQ4_NL weights (layout in pack.h). Vector lane r is weight
// row r of a 16-row group, so the float arithmetic per (weight row, activation row) pair is the unpacked kernels'
// (tile_simd.cc), lane by lane:
//   Q8_0, Q5_0, Q5_1 (ggml_vec_dot order): 8 accumulators per pair, accumulator i holding the exact int32 sum of
//        elements 4i..4i+3 of each block scaled by dw·da with one fused multiply-add per block, then the 8 reduced
//        as hsum does: ((acc0+acc4) + (acc2+acc6)) + ((acc1+acc5) + (acc3+acc7)). Q5_1 (against Q8_1 activations)
//        then adds its min term, summed block by block apart: summs = fma(mw, sa, summs) with sa the Q8_1 block's
//        stored d·Σq, as ggml_vec_dot_q5_1_q8_1 does (fused or not, the same bits: f16·f16 is exact in f32).
//   Q4_0, IQ4_NL (llama.cpp's repacked order): per block the exact int32 total, fused multiply-added by dw·da.
// The weights enter vpdpbusd unsigned (Q8_0: w + 128; Q5_0: w + 16; Q5_1: w itself; Q4_0: the nibble, w + 8;
// IQ4_NL: its table value + 128); each integer sum starts from the offset that cancels this (-c·Σa per 4-byte group or per block),
// so every sum stays exact. A group of weights is read once per MA activation rows (register blocking) and stays
// in L1 between them.
#include "intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu_features.h"
#include "kernel_variants.h"
#include "pack.h"
#include "quants.h"
#include "simd_sums.h"

namespace ir {
namespace avx512 {
namespace {

// An activation block: Q8_1 (d, s, qs) for Q5_1, Q8_0 (d, qs) for the others; its 32 levels are its last bytes.
constexpr size_t act_block_bytes(bool q8_1) { return q8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0); }
constexpr size_t act_levels_offset(bool q8_1) { return act_block_bytes(q8_1) - 32; }

inline float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// An activation block's 32 int8 values as two vectors holding bytes 0-15 / 16-31 in every 128-bit lane; act_group
// then broadcasts 4-byte group I to all lanes with one in-lane shuffle. A broadcast load per group (vpbroadcastd
// from memory) was what bounded these kernels: the Q8_0 head's estimate ran at 120 GMAC/s that way and at 180-200
// this way (one thread, L2-resident weights).
struct ActBlock {
  __m512i lo, hi;
};

inline ActBlock load_act_block(const int8_t* aq) {
  return {_mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(aq))),
          _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(aq + 16)))};
}

template <int I>
inline __m512i act_group(const ActBlock& a) {
  return _mm512_shuffle_epi32(I < 4 ? a.lo : a.hi, _MM_PERM_ENUM((I % 4) * 0x55));
}

// f(std::integral_constant<int, I>) for I = 0 .. N-1, unrolled at compile time (act_group needs I as a constant).
template <typename F, int... I>
inline void for_each_index(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
template <int N, typename F>
inline void for_each_index(F&& f) {
  for_each_index(f, std::make_integer_sequence<int, N>{});
}

// What the unsigned encoding adds to each weight.
int weight_bias(int wtype) {
  switch (wtype) {
    case GGML_Q4_0: return 8;
    case GGML_Q5_0: return 16;
    case GGML_Q5_1: return 0;
    default: return 128;  // Q8_0, IQ4_NL
  }
}

bool lane8_order(int wtype) { return wtype == GGML_Q8_0 || wtype == GGML_Q5_0 || wtype == GGML_Q5_1; }

// The integer offsets that cancel the unsigned weight encoding, per activation row and block: one per 4-byte
// group (8 per block) in the ggml_vec_dot order, else one per block.
void activation_offsets(int wtype, const uint8_t* act, int n_act, int64_t nb, int32_t* out) {
  const __m256i ones = _mm256_set1_epi8(1);
  const bool q8_1 = wtype == GGML_Q5_1;
  for (int64_t i = 0; i < int64_t(n_act) * nb; i++) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(act + size_t(i) * act_block_bytes(q8_1) + act_levels_offset(q8_1)));
    const __m256i group_sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, a);
    if (lane8_order(wtype)) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8 * i), _mm256_mullo_epi32(group_sums, _mm256_set1_epi32(-weight_bias(wtype))));
    } else {
      out[i] = -weight_bias(wtype) * hsum_i32(group_sums);
    }
  }
}

// Vector i (elements 4i..4i+3 of the 16 rows, unsigned) of one block's packed levels: bytes as stored (Q8_0's
// layout) or, kFiveBit, the Q5_0/Q5_1 layout's nibbles and fifth bits.
template <bool kFiveBit>
inline __m512i lane8_levels(const uint8_t* block, int i) {
  if (!kFiveBit) return _mm512_loadu_si512(block + 64 * i);
  // The nibbles (low ones for groups 0..3, high ones for 4..7) plus 16 where the fifth bit is set.
  const __m512i nibbles = _mm512_loadu_si512(block + 64 * (i & 3));
  const __m512i low4 = _mm512_set1_epi8(0xF);
  const __m512i v = i < 4 ? _mm512_and_si512(nibbles, low4) : _mm512_and_si512(_mm512_srli_epi16(nibbles, 4), low4);
  uint64_t fifth;
  std::memcpy(&fifth, block + 4 * 64 + 8 * i, 8);
  return _mm512_mask_add_epi8(v, __mmask64(fifth), v, _mm512_set1_epi8(16));
}

inline __m512 load_f16x16(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }

// A lone activation row's weights are prefetched block by block, kStreamAheadBytes ahead of the pass, into L2: each
// block of a group asks for its share (group bytes / blocks) of the bytes that far on in its stream (the same
// group, or past its end the stream's next group, `stride` groups on). Before, a lone row's pass asked for a whole
// group two groups ahead before computing one (~270 prefetches at once for a 1024-wide group): they queued for the
// core's fill buffers, the pass then computed with few lines in flight, and perf put 3/4 of a Qwen3-0.6B Q8_0
// decode's packed-kernel time on those prefetches. On the Sapphire Rapids host (2 threads, bench/native/
// float-decode-pass.cc, Qwen3-0.6B's packed layers and head, modes alternating in one process, loaded machine) this
// read 1.06-1.25x the bytes per CPU-second of the burst (6 runs; no software prefetch at all: 1.07x in one), 0.9x of
// a pure read of the same bytes; 1-4 KB ahead and T0/T1/T2 were within noise of each other.
// Intel only (CpuFeatures::intel), as the F16/BF16 lone rows' prefetch: the burst was kept for single rows in stop 27
// (notes, "Packed Q5_1": faster than no prefetch on that host, loaded), and this has not been measured on AMD.
constexpr size_t kStreamAheadBytes = 2048;
struct StreamAhead {
  const uint8_t* group = nullptr;  // null: no prefetches (several activation rows prefetch per pass instead)
  size_t group_bytes = 0, share = 0;
  int stride = 1;
  const uint8_t* end = nullptr;

  StreamAhead() = default;
  StreamAhead(const uint8_t* g, size_t bytes, int64_t nb, int stride_groups, const uint8_t* stop)
      : group(g), group_bytes(bytes), share((bytes + size_t(nb) - 1) / size_t(nb)), stride(stride_groups), end(stop) {}

  // Inlined by force: GCC 12 took an out-of-line copy, whose only effects are prefetches, for a pure function and
  // dropped every call to it (the first build of this had no prefetch left in the kernels).
  [[gnu::always_inline]] inline void at_block(int64_t b) const {
    if (!group) return;
    const size_t at = size_t(b) * share + kStreamAheadBytes;
    const uint8_t* from = group + (at < group_bytes ? at : at + size_t(stride - 1) * group_bytes);
    const uint8_t* to = std::min(from + share, end);
    if (from < to) prefetch_lines<2>(from, size_t(to - from));
  }
};

// One packed group in the ggml_vec_dot order against MA activation rows (act: their blocks, offsets: 8 per
// block); y[m * ldy + r]. kFiveBit: the levels are in the Q5_0/Q5_1 layout, else in Q8_0's (bytes). kMin: Q5_1's
// mins follow the scales and the activations are Q8_1.
template <int MA, bool kFiveBit, bool kMin>
void lane8_group(const uint8_t* group, int64_t nb, const uint8_t* act, const int32_t* offsets, float* y, int64_t ldy,
                 const StreamAhead& ahead) {
  const size_t level_bytes = packed_level_bytes(kFiveBit ? GGML_Q5_0 : GGML_Q8_0);
  const uint8_t* levels = group;
  const uint8_t* scales = group + size_t(nb) * level_bytes;
  const uint8_t* mins = scales + size_t(nb) * 32;
  __m512 acc[MA][8], summs[MA];
  for (int m = 0; m < MA; m++) {
    for (int i = 0; i < 8; i++) acc[m][i] = _mm512_setzero_ps();
    summs[m] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; b++) {
    ahead.at_block(b);
    const __m512 dw = load_f16x16(scales + size_t(b) * 32);
    __m512 dd[MA];
    ActBlock a[MA];
    const int32_t* off[MA];
    for (int m = 0; m < MA; m++) {
      const uint8_t* ab = act + (size_t(m) * size_t(nb) + size_t(b)) * act_block_bytes(kMin);
      dd[m] = _mm512_mul_ps(dw, _mm512_set1_ps(h2f(ab)));
      if (kMin) summs[m] = _mm512_fmadd_ps(load_f16x16(mins + size_t(b) * 32), _mm512_set1_ps(h2f(ab + 2)), summs[m]);
      a[m] = load_act_block(reinterpret_cast<const int8_t*>(ab + act_levels_offset(kMin)));
      off[m] = offsets + (size_t(m) * size_t(nb) + size_t(b)) * 8;
    }
    for_each_index<8>([&](auto I) {
      constexpr int i = decltype(I)::value;
      const __m512i w = lane8_levels<kFiveBit>(levels + size_t(b) * level_bytes, i);
      for (int m = 0; m < MA; m++) {
        const __m512i p = _mm512_dpbusd_epi32(_mm512_set1_epi32(off[m][i]), w, act_group<i>(a[m]));
        acc[m][i] = _mm512_fmadd_ps(dd[m], _mm512_cvtepi32_ps(p), acc[m][i]);
      }
    });
  }
  for (int m = 0; m < MA; m++) {
    const __m512 s0 = _mm512_add_ps(acc[m][0], acc[m][4]), s1 = _mm512_add_ps(acc[m][1], acc[m][5]);
    const __m512 s2 = _mm512_add_ps(acc[m][2], acc[m][6]), s3 = _mm512_add_ps(acc[m][3], acc[m][7]);
    const __m512 total = _mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3));
    _mm512_storeu_ps(y + size_t(m) * size_t(ldy), kMin ? _mm512_add_ps(total, summs[m]) : total);
  }
}

// One packed Q4_0 or IQ4_NL group against MA activation rows (offsets: 1 per block); y[m * ldy + r].
template <int MA, bool kIq4nl>
void nibble_group(const uint8_t* group, int64_t nb, const uint8_t* act, const int32_t* offsets, float* y, int64_t ldy,
                  const StreamAhead& ahead) {
  const uint8_t* levels = group;
  const uint8_t* scales = group + size_t(nb) * packed_level_bytes(GGML_Q4_0);
  const __m512i low4 = _mm512_set1_epi8(0xF);
  // IQ4_NL: nibble -> table value + 128, looked up in each 128-bit lane.
  const __m512i table = _mm512_xor_si512(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues))), _mm512_set1_epi8(char(0x80)));
  auto decode = [&](__m512i nibbles) { return kIq4nl ? _mm512_shuffle_epi8(table, nibbles) : nibbles; };
  __m512 acc[MA];
  for (int m = 0; m < MA; m++) acc[m] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    ahead.at_block(b);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + size_t(b) * 32)));
    __m512i lo[4], hi[4];
    for (int j = 0; j < 4; j++) {
      const __m512i w = _mm512_loadu_si512(levels + size_t(b) * 256 + 64 * j);
      lo[j] = decode(_mm512_and_si512(w, low4));
      hi[j] = decode(_mm512_and_si512(_mm512_srli_epi16(w, 4), low4));
    }
    for (int m = 0; m < MA; m++) {
      const uint8_t* ab = act + (size_t(m) * size_t(nb) + size_t(b)) * act_block_bytes(false);
      const ActBlock a = load_act_block(reinterpret_cast<const int8_t*>(ab + 2));
      // Two independent chains shorten the dependency on vpdpbusd's latency; integer sums are exact in any order.
      __m512i p = _mm512_set1_epi32(offsets[size_t(m) * size_t(nb) + size_t(b)]), q = _mm512_setzero_si512();
      for_each_index<4>([&](auto J) {
        constexpr int j = decltype(J)::value;
        p = _mm512_dpbusd_epi32(p, lo[j], act_group<j>(a));
        q = _mm512_dpbusd_epi32(q, hi[j], act_group<4 + j>(a));
      });
      const __m512 total = _mm512_cvtepi32_ps(_mm512_add_epi32(p, q));
      acc[m] = _mm512_fmadd_ps(total, _mm512_mul_ps(dw, _mm512_set1_ps(h2f(ab))), acc[m]);
    }
  }
  for (int m = 0; m < MA; m++) _mm512_storeu_ps(y + size_t(m) * size_t(ldy), acc[m]);
}

// Bytes of a packed Q5_0/Q5_1 group of nb blocks once expanded.
size_t expanded_group_bytes(int wtype, int64_t nb) {
  return size_t(nb) * (packed_level_bytes(GGML_Q8_0) + packed_scale_bytes(wtype));
}

// A packed Q5_0/Q5_1 group rewritten with its levels in the packed Q8_0 layout (unsigned bytes: Q5_0's w + 16,
// Q5_1's w), then its scales (and mins) as they are, so that several passes over it (many activation rows)
// decode the fifth bits once.
void expand_five_bit_group(int wtype, const uint8_t* group, int64_t nb, uint8_t* out) {
  const size_t in_bytes = packed_level_bytes(wtype), out_bytes = packed_level_bytes(GGML_Q8_0);
  for (int64_t b = 0; b < nb; b++)
    for (int i = 0; i < 8; i++)
      _mm512_storeu_si512(out + size_t(b) * out_bytes + 64 * i, lane8_levels<true>(group + size_t(b) * in_bytes, i));
  std::memcpy(out + size_t(nb) * out_bytes, group + size_t(nb) * in_bytes, size_t(nb) * packed_scale_bytes(wtype));
}

// Asks for the lines of [from, from + bytes) clipped to end: the weights a few groups ahead, spread over a group's
// passes. A batched decode step's weights (~17 MB for stories15M's Q8_0 file, head included) are not in cache from
// one step to the next, and the hardware prefetchers leave the kernels waiting on them (the head's estimate with
// cold weights, two threads, in a microbenchmark: ~25% faster with this).
constexpr int kPrefetchGroups = 4;
constexpr int kMatmulPrefetchGroups = 2;
inline void prefetch_span(const uint8_t* from, size_t bytes, const uint8_t* end) {
  if (from >= end) return;
  prefetch_lines<3>(from, std::min(bytes, size_t(end - from)));
}

using GroupFn = void (*)(const uint8_t*, int64_t, const uint8_t*, const int32_t*, float*, int64_t, const StreamAhead&);

}  // namespace

void tile_packed(const TileArgs& t) {
  const int64_t nb = t.k / 32;
  const bool lane8 = lane8_order(t.wtype);
  const size_t offsets_per_row = size_t(nb) * (lane8 ? 8 : 1);
  thread_local std::vector<int32_t> offsets;
  offsets.resize(offsets_per_row * size_t(t.n_act));
  activation_offsets(t.wtype, t.act, t.n_act, nb, offsets.data());

  // Activation rows per pass over a weight group: the ggml_vec_dot order keeps 8 accumulators per row, the
  // repacked order one (of 32 registers).
  const int block = lane8 ? 2 : 4;
  GroupFn full, one;
  switch (t.wtype) {
    case GGML_Q8_0: full = lane8_group<2, false, false>; one = lane8_group<1, false, false>; break;
    case GGML_Q5_0: full = lane8_group<2, true, false>; one = lane8_group<1, true, false>; break;
    case GGML_Q5_1: full = lane8_group<2, true, true>; one = lane8_group<1, true, true>; break;
    case GGML_IQ4_NL: full = nibble_group<4, true>; one = nibble_group<1, true>; break;
    default: full = nibble_group<4, false>; one = nibble_group<1, false>; break;
  }
  // Q5_0/Q5_1 against more activation rows than one pass takes: expand each group once (the offsets already
  // cancel the unsigned levels the expansion stores).
  const bool has_min = t.wtype == GGML_Q5_1;
  const bool expand = (t.wtype == GGML_Q5_0 || has_min) && t.n_act > block;
  thread_local std::vector<uint8_t> expanded;
  if (expand) {
    expanded.resize(expanded_group_bytes(t.wtype, nb));
    full = has_min ? lane8_group<2, false, true> : lane8_group<2, false, false>;
    one = has_min ? lane8_group<1, false, true> : lane8_group<1, false, false>;
  }
  const size_t act_row = size_t(nb) * act_block_bytes(has_min);
  const int groups = t.nw / kPackRows;
  const uint8_t* end = t.prefetch_end ? t.prefetch_end : t.w + size_t(groups) * t.wrow;
  // Several activation rows (and one on AMD): the weights are prefetched kMatmulPrefetchGroups groups ahead, a share
  // per pass. One on Intel (decode): block by block inside the pass (StreamAhead).
  const bool lone_ahead = t.n_act == 1 && cpu_features().intel;
  const int passes = t.n_act / block + t.n_act % block;
  const size_t chunk = (t.wrow + size_t(passes) - 1) / size_t(passes);
  for (int g = 0; g < groups; g++) {
    const uint8_t* group = t.w + size_t(g) * t.wrow;
    const uint8_t* ahead = group + size_t(kMatmulPrefetchGroups) * t.wrow;
    const StreamAhead lone = lone_ahead ? StreamAhead(group, t.wrow, nb, 1, end) : StreamAhead();
    if (expand) {
      expand_five_bit_group(t.wtype, group, nb, expanded.data());
      group = expanded.data();
    }
    float* y = t.y + g * kPackRows;
    int m = 0, pass = 0;
    for (; m + block <= t.n_act; m += block, pass++) {
      prefetch_span(ahead + size_t(pass) * chunk, chunk, end);
      full(group, nb, t.act + size_t(m) * act_row, offsets.data() + size_t(m) * offsets_per_row, y + m * t.ldy, t.ldy, lone);
    }
    for (; m < t.n_act; m++, pass++) {
      if (!lone_ahead) prefetch_span(ahead + size_t(pass) * chunk, chunk, end);
      one(group, nb, t.act + size_t(m) * act_row, offsets.data() + size_t(m) * offsets_per_row, y + m * t.ldy, t.ldy, lone);
    }
  }
}

namespace {

// G adjacent packed Q8_0 groups (group_bytes apart) against MA activation rows, each block's 32 products summed
// exactly as integers and then fused multiply-added by dw·da once per block (offsets: one per block). Not
// llama.cpp's order: matmul_argmax uses these sums only to bound which rows can hold the maximum. Each broadcast
// activation group feeds all G groups: the in-lane shuffles compete with vpdpbusd for the vector ports, and with
// G = 2 the head's estimate runs ~25% faster than with one group per pass (microbenchmark, two threads). The
// integer sums are exact, so the estimates are the same bits for any G and MA.
// Group gi's estimates go to y + gi·kPackRows + m·ldy (unless y is null), its maxima to group_max[m·ldmax + gi].
template <int MA, int G>
void q8_0_block_groups(const uint8_t* group, size_t group_bytes, int64_t nb, const uint8_t* act, const int32_t* offsets,
                       float* y, int64_t ldy, float* group_max, int64_t ldmax, const StreamAhead* ahead) {
  const size_t level_bytes = packed_level_bytes(GGML_Q8_0);
  __m512 acc[MA][G];
  for (int m = 0; m < MA; m++)
    for (int gi = 0; gi < G; gi++) acc[m][gi] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    for (int gi = 0; gi < G; gi++) ahead[gi].at_block(b);
    const uint8_t* levels[G];
    __m512 dw[G];
    for (int gi = 0; gi < G; gi++) {
      const uint8_t* gp = group + size_t(gi) * group_bytes;
      levels[gi] = gp + size_t(b) * level_bytes;
      dw[gi] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gp + size_t(nb) * level_bytes + size_t(b) * 32)));
    }
    for (int m = 0; m < MA; m++) {
      const uint8_t* ab = act + (size_t(m) * size_t(nb) + size_t(b)) * act_block_bytes(false);
      const ActBlock a = load_act_block(reinterpret_cast<const int8_t*>(ab + 2));
      const __m512i offset = _mm512_set1_epi32(offsets[size_t(m) * size_t(nb) + size_t(b)]);
      // With one group, two chains (even and odd activation groups) halve the wait on vpdpbusd's latency.
      constexpr int kChains = G == 1 ? 2 : G;
      __m512i p[kChains];
      for (int c = 0; c < kChains; c++) p[c] = c < G ? offset : _mm512_setzero_si512();
      for_each_index<8>([&](auto I) {
        constexpr int i = decltype(I)::value;
        const __m512i x = act_group<i>(a);
        for (int gi = 0; gi < G; gi++) {
          const int c = G == 1 ? i % 2 : gi;
          p[c] = _mm512_dpbusd_epi32(p[c], _mm512_loadu_si512(levels[gi] + 64 * i), x);
        }
      });
      if (G == 1) p[0] = _mm512_add_epi32(p[0], p[1]);
      const __m512 da = _mm512_set1_ps(h2f(ab));
      for (int gi = 0; gi < G; gi++) acc[m][gi] = _mm512_fmadd_ps(_mm512_mul_ps(dw[gi], da), _mm512_cvtepi32_ps(p[gi]), acc[m][gi]);
    }
  }
  for (int m = 0; m < MA; m++)
    for (int gi = 0; gi < G; gi++) {
      if (y) _mm512_storeu_ps(y + size_t(gi) * kPackRows + size_t(m) * size_t(ldy), acc[m][gi]);
      // The group's largest estimate; NaN never counts (it compares unordered, so -inf takes its lane).
      const __m512 counted = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(acc[m][gi], acc[m][gi], _CMP_ORD_Q), _mm512_set1_ps(-INFINITY), acc[m][gi]);
      group_max[size_t(m) * size_t(ldmax) + size_t(gi)] = _mm512_reduce_max_ps(counted);
    }
}

}  // namespace

void tile_packed_q8_0_block_sums(const TileArgs& t, float* group_max, int64_t ldmax) {
  const int64_t nb = t.k / 32;
  thread_local std::vector<int32_t> offsets;
  offsets.resize(size_t(nb) * size_t(t.n_act));
  // -128 times each activation block's sum cancels the unsigned (w + 128) weight encoding.
  for (int64_t i = 0; i < int64_t(t.n_act) * nb; i++) {
    const auto* a = reinterpret_cast<const int8_t*>(t.act + size_t(i) * act_block_bytes(false) + 2);
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) sum += a[j];
    offsets[size_t(i)] = -128 * sum;
  }
  constexpr int kRowsPerPass = 4;
  const size_t act_row = size_t(nb) * act_block_bytes(false);
  const int groups = t.nw / kPackRows;
  const uint8_t* end = t.w + size_t(groups) * t.wrow;
  const int passes = (t.n_act + kRowsPerPass - 1) / kRowsPerPass;
  const bool lone_ahead = t.n_act == 1 && cpu_features().intel;
  for (int g = 0; g < groups;) {
    const int n_groups = g + 2 <= groups ? 2 : 1;
    const uint8_t* group = t.w + size_t(g) * t.wrow;
    float* y = t.y ? t.y + g * kPackRows : nullptr;
    float* gmax = group_max + g;
    const size_t chunk = (size_t(n_groups) * t.wrow + size_t(passes) - 1) / size_t(passes);
    const uint8_t* ahead = group + size_t(kPrefetchGroups) * t.wrow;
    // One activation row on Intel: each of the pass's groups is a stream, prefetched block by block (StreamAhead).
    StreamAhead lone[2];
    if (lone_ahead)
      for (int gi = 0; gi < n_groups; gi++) lone[gi] = StreamAhead(group + size_t(gi) * t.wrow, t.wrow, nb, n_groups, end);
    for (int m = 0, pass = 0; m < t.n_act; pass++) {
      if (!lone_ahead) prefetch_span(ahead + size_t(pass) * chunk, chunk, end);
      const uint8_t* a = t.act + size_t(m) * act_row;
      const int32_t* off = offsets.data() + size_t(m) * size_t(nb);
      float* ym = y ? y + m * t.ldy : nullptr;
      const int rows = t.n_act - m >= kRowsPerPass ? kRowsPerPass : 1;
      if (rows == kRowsPerPass && n_groups == 2) q8_0_block_groups<kRowsPerPass, 2>(group, t.wrow, nb, a, off, ym, t.ldy, gmax + size_t(m) * size_t(ldmax), ldmax, lone);
      else if (rows == kRowsPerPass) q8_0_block_groups<kRowsPerPass, 1>(group, t.wrow, nb, a, off, ym, t.ldy, gmax + size_t(m) * size_t(ldmax), ldmax, lone);
      else if (n_groups == 2) q8_0_block_groups<1, 2>(group, t.wrow, nb, a, off, ym, t.ldy, gmax + size_t(m) * size_t(ldmax), ldmax, lone);
      else q8_0_block_groups<1, 1>(group, t.wrow, nb, a, off, ym, t.ldy, gmax + size_t(m) * size_t(ldmax), ldmax, lone);
      m += rows;
    }
    g += n_groups;
  }
}

}  // namespace avx512
}  // namespace ir
