// The per-ISA matmul tile kernels. Each computes a band of weight rows against prepared activation rows; matmul.cc
// picks one variant at load time (cpuid) and drives it from the thread pool.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cpu_features.h"

namespace ir {

// Per activation row order bits (matmul's gemm_rows, TileArgs::gemm_rows): which of llama.cpp's orders sums the
// row. kOrderQ4kGemm: Q4_K's batched (GEMM) order; kOrderFloatBatch: F32/F16/BF16 in tinyBLAS's order (a row of a
// llama.cpp ubatch of 2+ rows), else ggml_vec_dot's (a lone row). A row's result depends on its bits alone.
constexpr uint8_t kOrderQ4kGemm = 1, kOrderFloatBatch = 8;

// f(std::integral_constant<int, N>{}, m0) over activation rows [0, n) in passes of kMax rows and one of the rest,
// so that a kernel templated on its row count gets a compile-time N.
template <int kMax, typename F>
inline void act_passes(int n, F&& f) {
  int m = 0;
  for (; m + kMax <= n; m += kMax) f(std::integral_constant<int, kMax>{}, m);
  if constexpr (kMax > 1) {
    if (n - m > 0) act_passes<kMax - 1>(n - m, [&](auto na, int m0) { f(na, m + m0); });
  }
}

// A band of nw weight rows against one activation row, read as kStreams runs side by side: pass i takes row i of
// each of kStreams equal parts of the band (f(std::integral_constant<int, kStreams>{}, rows)), the rows left over
// go one at a time. A single run through the rows keeps too few cache lines in flight to use the memory's
// bandwidth (Llama-1B F16 decode, one thread, weights from memory: 4 runs read ~1.3x more bytes per CPU-second).
template <int kStreams, typename F>
inline void row_streams(int nw, F&& f) {
  const int part = nw / kStreams;
  for (int i = 0; i < part; i++) {
    int rows[kStreams];
    for (int s = 0; s < kStreams; s++) rows[s] = s * part + i;
    f(std::integral_constant<int, kStreams>{}, rows);
  }
  for (int r = kStreams * part; r < nw; r++) f(std::integral_constant<int, 1>{}, &r);
}

// Decode's use of row_streams: kStreams runs for rows of kStreamMinK+ elements, one run for shorter ones. The runs pay
// for themselves on long rows streamed from memory (Llama-1B F16, 2048/8192 wide); stories15M's 288/768-wide rows
// decoded 1.1-1.25x slower in four runs than in one.
// Compact rows (F16/BF16, and the 32-element types: Q8_0, Q4_0, ...; 2 bytes an element or fewer) take the runs from
// 512 elements. On a Sapphire Rapids host, with kLonePrefetchBytes: Qwen3-0.6B's 1024-wide F16 rows read 1.12x the
// bytes per CPU-second of one run (f16dec33); from 512, decode per token took 1.27x / 1.25x less CPU on SmolLM2-135M
// F16 / BF16 (576 wide), 1.12x / 1.07x on Qwen2.5-0.5B (896); Q8_0 2.1x / 2.2x on Qwen3-0.6B / Qwen2.5-0.5B (their
// 151936-row tied heads among them), stories15M Q8_0 1.05x, stories15M F16 even (stop 33, quiet,
// bench/batched-step.ts --seqs 1, alternating builds).
constexpr int64_t kStreamMinK = 2048, kCompactStreamMinK = 512;
template <int kStreams, typename F>
inline void lone_row_runs(int nw, int64_t k, F&& f, int64_t min_k = kStreamMinK) {
  if (k >= min_k) row_streams<kStreams>(nw, f);
  else row_streams<1>(nw, f);
}

// Decode's F16/BF16 lone rows on Intel (CpuFeatures::intel): each run prefetches its row kLonePrefetchBytes ahead
// of its loads. On a Sapphire Rapids host (2 threads, the Llama-1B F16 layers from the file's mapping) a 4-run pass
// took ~80% of a pure 4-stream read's bytes per CPU-second, and the kernel's arithmetic in L2 alone ran ~36 GB per
// CPU-second: the loads of a 128-byte step wait on memory in turn with the arithmetic, and the hardware prefetcher
// did not run far enough ahead to cover them. 1 KB ahead (into L2) read 1.1-1.2x more per CPU-second (F16 and BF16);
// 0.5-2 KB were alike, a non-temporal prefetch halved it. On the AMD Zen 5 EPYC, 4 runs with a 1 KB prefetch ran 0.66x
// (bw28), so other CPUs keep the hardware prefetcher alone.
constexpr int64_t kLonePrefetchBytes = 1024;

// f(std::true_type) where decode's F16/BF16 lone rows prefetch ahead (Intel), else f(std::false_type): the kernels
// take whether they prefetch as a template argument, so the check is made once a band of rows, not once a step.
template <typename F>
inline void with_lone_prefetch(F&& f) {
  if (cpu_features().intel) f(std::true_type{});
  else f(std::false_type{});
}

// Asks for every 64-byte line of [p, p + bytes) ahead of its use: Locality 3 into L1 (prefetcht0), 2 into L2
// (prefetcht1). The kernels that stream weight rows ask for the next rows' lines while they compute on the current.
template <int Locality>
inline void prefetch_lines(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, Locality);
}

// The two cache lines kLonePrefetchBytes past byte `at` of each of the NS rows (a 128-byte step: 64 F16/BF16).
template <int NS, typename T>
inline void prefetch_runs_ahead(const T* const* rows, int64_t at) {
  for (int s = 0; s < NS; s++) {
    const char* p = static_cast<const char*>(static_cast<const void*>(rows[s])) + at + kLonePrefetchBytes;
    __builtin_prefetch(p, 0, 2);  // prefetcht1: into L2
    __builtin_prefetch(p + 64, 0, 2);
  }
}

// row_streams' pass over a band of lone rows (one activation row): kernel(ns, rows, out) gets the NS weight rows
// (row_at(r): a pointer of whatever type the kernel reads) and their outputs (y + r).
template <typename RowAt, typename Kernel>
auto lone_pass(RowAt row_at, float* y, Kernel kernel) {
  return [row_at, y, kernel](auto ns, const int* rs) {
    constexpr int NS = decltype(ns)::value;
    decltype(row_at(0)) rows[NS];
    float* out[NS];
    for (int s = 0; s < NS; s++) {
      rows[s] = row_at(rs[s]);
      out[s] = y + rs[s];
    }
    kernel(ns, rows, out);
  };
}

// AVX2's BF16 activation rows: f32 holding the bf16-rounded values (as the SIMD variants' other F16/BF16 rows), each
// 16-element group's pairs split, the 8 odd elements first (element 2j+1 at slot j), then the 8 even ones (2j at
// 8 + j), so that vdpbf16ps's twin (bf16_twin.h) loads either side of 8 pairs as one vector; a row's last k % 16
// elements stay in place. The slot of element i of a k-element row:
inline int64_t bf16_pair_slot(int64_t i, int64_t k) {
  const int64_t g = i & ~int64_t(15);
  if (g + 16 > k) return i;
  return g + ((i & 1) ? 0 : 8) + ((i & 15) >> 1);
}

struct TileArgs {
  int wtype;
  int64_t k;           // elements per row
  const uint8_t* w;    // first weight row of the band
  size_t wrow;         // bytes per weight row
  int nw;              // weight rows in the band
  const uint8_t* act;  // first activation row, in act_encoding's layout
  int n_act;
  float* y;            // y[m * ldy + r] receives dot(weight row r, activation row m)
  int64_t ldy;
  // Float types: every activation row in ggml_vec_dot's order, as llama.cpp sums a lone row (false: tinyBLAS's, a
  // row of a batch). Other types: the whole matmul has one activation row (a hint: their orders do not change).
  bool single_row;
  // F16/BF16 weights, several rows: the activations are the 16-bit values themselves (k per row), not widened to
  // f32 (only the blocked batch kernels, tinyblas_gemm.h, take them so).
  bool act_16bit = false;
  // The weights come from memory, not cache, and there are few activation rows: float tiles then walk one weight
  // row at a time (a single stream the prefetcher follows) instead of four interleaved ones, which stall on
  // memory (an f32 LM head ran 2x slower for 2-9 activation rows than for one). The sums are the same.
  bool stream_rows = false;
  // Q4_K: llama.cpp's batched (GEMM) order, one fused multiply-add per 64 weights, instead of its single-row
  // (GEMV) order, one per 256-weight super-block (Matrix::gemm_order).
  bool gemm_order = false;
  // Per activation row order bits instead of gemm_order (kOrderQ4kGemm: the batched order); only
  // tile_ksuper_batch reads it, the driver splits the rows by order for every other kernel.
  const uint8_t* gemm_rows = nullptr;
  // Packed kernels prefetch weights up to here (null: the band's end). Bands of one matrix are taken in order, so
  // the rows after a band are usually the next one's, another thread's.
  const uint8_t* prefetch_end = nullptr;
};

// Amx: the AVX-512 variant with its Q4_K batches on AMX tiles (tile_q4k_amx.cc); everything else runs Avx512's
// kernels, and every output has the same bits.
enum class Variant { Scalar = 0, Avx2 = 1, Avx512 = 2, Amx = 3 };

// The vector kernels a variant runs: Amx's are Avx512's.
inline Variant vector_variant(Variant v) { return v == Variant::Amx ? Variant::Avx512 : v; }

// Scalar reference: llama.cpp's block formulas, activation rows in vec_dot_type(wtype) layout.
// F32/F16/BF16: single_row picks ggml_vec_dot's order, else tinyBLAS's (TileArgs::single_row), both as the SIMD
// variants sum them (llama.cpp's zen4 orders).
float vec_dot_ref(int wtype, const uint8_t* w, const uint8_t* a, int64_t k, bool single_row);
void tile_scalar(const TileArgs& t);

// SIMD variants (separate static libraries built with their own -m flags). Activations arrive in
// vec_dot_type(wtype) layout, except that F16/BF16 activations arrive as f32 holding the already rounded values.
// A variant returns false from *_supports for types it leaves to the scalar path.
// quantize_activations writes exactly what quantize_activation_row does (same values, same bytes) for Q8_0, Q8_1,
// Q8_K and F16, faster; false for other encodings.
namespace avx2 {
bool supports(int wtype);
// y[i] = exp(x[i] - max) and their sum, as ggml_vec_soft_max_f32 computes them (its vector exp on whole vectors,
// libm's expf on the rest, a float sum per vector added in double).
double soft_max_exp(const float* x, float* y, int n, float max);
void tile(const TileArgs& t);
bool quantize_activations(int encoding, const float* x, int64_t k, uint8_t* out);
// A BF16 activation row widened in bf16_pair_slot's order: out[bf16_pair_slot(i, k)] = x[i] rounded to bf16.
void bf16_split_row(const float* x, int64_t k, float* out);
void swiglu(const float* gate, const float* up, float* out, int64_t n);
// Q4_K (either order), Q5_K and Q6_K against any number of activation rows (tile_ksuper_rows.cc): weight rows
// decoded in registers against up to eight activation rows at a time, or (Q4_K, 16+ rows) eight weight rows decoded
// once into lanes against every row; every output the bits the AVX-512 variant's tile_ksuper_batch gives it.
bool ksuper_rows_applies(const TileArgs& t);
void tile_ksuper_rows(const TileArgs& t);
// The 32-element types against 2+ activation rows (tile_block32_few.cc), each weight row decoded once and each
// block run against all of them, eight at a time; every output the bits of its row alone.
bool block32_few_applies(const TileArgs& t);
void tile_block32_few(const TileArgs& t);
// avx512::tile_packed_q8_0_block_sums's estimate (the same bits) from unpacked Q8_0 rows: t.w the band's first row,
// t.wrow its row bytes, t.nw a multiple of 16; group g is rows 16g..16g+15 of the band.
void tile_q8_0_block_sums(const TileArgs& t, float* group_max, int64_t ldmax);
}  // namespace avx2
namespace avx512 {
bool supports(int wtype);
double soft_max_exp(const float* x, float* y, int n, float max);
void tile(const TileArgs& t);
// A band of a packed Q8_0/Q5_0/Q5_1/Q4_0/IQ4_NL matrix (pack.h; tile_packed.cc): t.w is its first packed group, t.wrow the bytes
// per group and t.nw a multiple of kPackRows. Same results as tile on the unpacked rows, bit for bit.
void tile_packed(const TileArgs& t);
// Packed Q8_0 only: each block's products summed exactly as integers, then one fused multiply-add by dw·da per
// block. A different float order from llama.cpp's (and tile_packed's): matmul_argmax uses it only as an estimate
// whose distance from the exact result it bounds. group_max[m * ldmax + g]: the largest (non-NaN) estimate of
// activation row m in packed group g of the band; the estimates themselves go to t.y unless it is null. The same
// row's estimates are the same bits whatever n_act is.
void tile_packed_q8_0_block_sums(const TileArgs& t, float* group_max, int64_t ldmax);
// Q4_K, Q5_K, Q6_K against any number of activation rows (tile_ksuper_batch.cc): each weight row decoded once per
// call, the activation rows run eight at a time; every output the bits the single-row kernel gives for its row
// (with t.gemm_order, Q4_K the bits of llama.cpp's batched order).
bool ksuper_batch_supports(int wtype);
void tile_ksuper_batch(const TileArgs& t);
// F16 weights against 2+ activation rows in llama.cpp's AVX-512 tinyBLAS order (tile_f16_batch.cc, blocked as
// tinyblas_gemm.h says): k % 16 == 0, as tinyBLAS takes them.
bool f16_batch_applies(const TileArgs& t);
void tile_f16_batch(const TileArgs& t);
// BF16 weights in llama.cpp's zen4 orders (tile_bf16.cc), by AVX512-BF16's vdpbf16ps or its twin (bf16_twin.h):
// ggml_vec_dot_bf16 for lone rows, tinyBLAS for batch rows (k % 32 == 0).
bool bf16_dot_applies(const TileArgs& t);
void tile_bf16(const TileArgs& t);
bool quantize_activations(int encoding, const float* x, int64_t k, uint8_t* out);
void swiglu(const float* gate, const float* up, float* out, int64_t n);
// Q4_K against several activation rows with AMX-INT8 tiles (tile_q4k_amx.cc; its own library, built with the AMX
// flags; only where cpu_features().amx_int8): the bits tile_ksuper_batch gives, both Q4_K orders per row as it
// takes them (gemm_rows / gemm_order). It blocks the activation rows for the caches itself (matmul gives it all).
void tile_q4k_amx(const TileArgs& t);
// Whether the tiles beat tile_ksuper_batch for n_act rows, per64 of them in the per-64 order: a block of 16 rows
// costs the tiles about as much whatever its rows, and the per-64 order costs the vector kernel about twice the
// single-row one. One thread, 2048x2048 (bench/native/q4k-amx-kernel.cc), time of VNNI / AMX: single-row order 0.88
// at 8 rows, 1.03 at 10, 1.16 at 12, 1.47 at 16, 1.6 at 32; per-64 order 0.90 at 2, 1.04 at 4, 1.32 at 6, 1.54 at 8,
// 2.6-2.8 at 16-512.
constexpr bool q4k_amx_pays(int n_act, int per64) { return 2 * n_act + 3 * per64 >= 24; }
}  // namespace avx512

}  // namespace ir
