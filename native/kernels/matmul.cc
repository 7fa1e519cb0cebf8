#include "matmul.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "cpu_features.h"
#include "expf_ggml.h"
#include "pack.h"
#include "quants.h"

namespace ir {

namespace {

Variant widest_variant() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni && f.avx2 && f.fma && f.f16c) return f.amx_int8 ? Variant::Amx : Variant::Avx512;
  if (f.avx2 && f.fma && f.f16c) return Variant::Avx2;
  return Variant::Scalar;
}

// Chosen once at load: the widest variant this CPU runs (INFER_REPL_KERNELS can narrow it: cpu_features.h).
const Variant g_auto_variant = widest_variant();

using TileFn = void (*)(const TileArgs&);

TileFn tile_for(Variant v, int wtype) {
  if (v == Variant::Avx512 && avx512::supports(wtype)) return avx512::tile;
  if (v != Variant::Scalar && avx2::supports(wtype)) return avx2::tile;
  return tile_scalar;
}

// Bytes of one prepared activation row and how to fill it. SIMD tiles take F16/BF16 activations as f32 holding
// the rounded values, so the weights' partner values are identical while the inner loop stays in f32; the blocked
// batch kernels (blocks_activations) take the 16-bit rows themselves (`narrow16`, TileArgs::act_16bit), converted
// here once per matmul instead of once per row band.
struct ActLayout {
  int encoding;        // quantize_activation_row encoding
  bool widen_to_f32;   // F16/BF16 values expanded back to f32 after rounding
  size_t row_bytes;
  bool split_pairs = false;  // widened BF16 in AVX2's pair-split order (bf16_pair_slot)
};

ActLayout act_layout(int wtype, int64_t k, bool simd, bool narrow16 = false, bool avx2 = false) {
  const int enc = vec_dot_type(wtype);
  const bool widen = simd && !narrow16 && (enc == GGML_F16 || enc == GGML_BF16);
  return {enc, widen, widen ? size_t(k) * 4 : row_bytes(enc, k), widen && avx2 && enc == GGML_BF16};
}

// Converted activation rows start on a cache line (their buffers hold kActAlign bytes more): malloc's 16-byte
// alignment split every other 32-byte load of a row across two lines (AVX2's BF16 batch kernel, standalone on
// Llama-1B's 2048-wide rows: 1.07x with the rows aligned; its widened predecessor likewise).
constexpr size_t kActAlign = 64;
uint8_t* aligned_start(std::vector<uint8_t>& buffer) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buffer.data()) + kActAlign - 1) & ~uintptr_t(kActAlign - 1));
}

bool act_16bit(const ActLayout& L) { return !L.widen_to_f32 && (L.encoding == GGML_F16 || L.encoding == GGML_BF16); }

void prepare_row(const ActLayout& L, Variant v, const float* x, int64_t k, uint8_t* out) {
  if (!L.widen_to_f32) {
    const bool done = v == Variant::Avx512 ? avx512::quantize_activations(L.encoding, x, k, out)
                    : v == Variant::Avx2   ? avx2::quantize_activations(L.encoding, x, k, out)
                                           : false;
    if (!done) quantize_activation_row(L.encoding, x, out, k);
    return;
  }
  auto* o = reinterpret_cast<float*>(out);
  if (L.split_pairs) {  // only the AVX2 variant's layout
    avx2::bf16_split_row(x, k, o);
    return;
  }
  for (int64_t i = 0; i < k; i++)
    o[i] = L.encoding == GGML_F16 ? fp16_lut(fp32_to_fp16(x[i])) : bf16_to_fp32(fp32_to_bf16(x[i]));
}

}  // namespace

Variant auto_variant() { return g_auto_variant; }

bool variant_available(Variant v) {
  return int(v) <= int(g_auto_variant);
}

bool kernel_supports(int type) {
  switch (type) {
    case GGML_F32: case GGML_F16: case GGML_BF16: case GGML_Q4_0: case GGML_Q4_1: case GGML_Q5_0: case GGML_Q5_1:
    case GGML_Q8_0: case GGML_IQ4_NL: case GGML_Q2_K: case GGML_Q3_K: case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K:
    case GGML_IQ4_XS: return true;
    default: return false;
  }
}

void dequantize_row(int type, const uint8_t* src, float* dst, int64_t n) {
  if (!dequantize_row_any(type, src, dst, n)) std::memset(dst, 0, size_t(n) * 4);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  switch (vector_variant(g_auto_variant)) {
    case Variant::Avx512: avx512::swiglu(gate, up, out, n); return;
    case Variant::Avx2: avx2::swiglu(gate, up, out, n); return;
    default: {
      // The AVX-512 variant's values: its lanes' ggml_v_silu on whole runs of 16, libm's expf on the rest.
      const int64_t whole = n / 16 * 16;
      int64_t i = 0;
      for (; i < whole; i++) out[i] = silu_ggml_scalar(gate[i]) * up[i];
      for (; i < n; i++) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    }
  }
}

void matmul(ThreadPool& pool, const Matrix& w, const float* x, int n_act, float* y) {
  matmul_variant(pool, w, x, n_act, y, g_auto_variant);
}

void matmul_variant(ThreadPool& pool, const Matrix& w, const float* x, int n_act, float* y, Variant variant) {
  const Matrix* ws[1] = {&w};
  float* ys[1] = {y};
  matmul_group(pool, ws, ys, 1, x, n_act, variant);
}

void matmul_shared_input(ThreadPool& pool, const Matrix* const* ws, float* const* ys, int n, const float* x, int n_act,
                         const uint8_t* gemm_rows) {
  matmul_group(pool, ws, ys, n, x, n_act, g_auto_variant, gemm_rows);
}

void matmul_group(ThreadPool& pool, const Matrix* const* ws, float* const* ys, int n, const float* x, int n_act,
                  Variant variant, const uint8_t* gemm_rows) {
  thread_local std::vector<MatmulJob> group;
  group.clear();
  for (int j = 0; j < n; j++) group.push_back({ws[j], x, nullptr, n_act, ys[j], false, gemm_rows});
  matmul_jobs_variant(pool, group.data(), n, variant);
}

void matmul_jobs(ThreadPool& pool, const MatmulJob* jobs, int n) { matmul_jobs_variant(pool, jobs, n, g_auto_variant); }

namespace {

bool float_type(int type) { return type == GGML_F32 || type == GGML_F16 || type == GGML_BF16; }

// Whether a float matrix sums activation row m in tinyBLAS's order: the row's own bit (gemm_rows), or without
// per-row bits the row count, as llama.cpp picks for a ubatch of n_act rows.
bool float_batch_row(const uint8_t* gemm_rows, int m, int n_act) {
  return gemm_rows ? (gemm_rows[m] & kOrderFloatBatch) != 0 : n_act > 1;
}

// llama.cpp sums a float matmul of several activation rows with tinyBLAS only when its tiles fit the matrix (rows a
// multiple of 4, columns of the step: 16 lanes, or BF16's 32 elements a vdpbf16ps step); otherwise every row takes
// ggml_vec_dot's order, as a lone row does (e.g. qwen2moe's one-row shared-expert gate). The columns' rule is the
// zen4 build's on every variant: the others compute its orders (16 lanes as two halves), so they must pick the same.
bool tinyblas_shape(const Matrix& w) {
  return w.rows % 4 == 0 && w.cols % (w.type == GGML_BF16 ? 32 : 16) == 0;
}

// F16/BF16 batches whose kernel blocks the activation rows for the caches itself (tinyblas_gemm.h): the tile gets
// all of them, so a band's weights come from memory once per cache-sized block rather than per 192 KB. AVX2 Q4_K
// likewise: its batch kernel (tile_ksuper_rows.cc's lanes) decodes each 8 weight rows once for all the rows, which it
// reads ~1/8 byte per multiply-add, from whichever cache holds them.
bool blocks_activations(const Matrix& w, Variant v) {
  if (v == Variant::Avx2) return ((w.type == GGML_F16 || w.type == GGML_BF16) && w.cols % 16 == 0) || w.type == GGML_Q4_K;
  if (v != Variant::Avx512) return false;
  if (w.type == GGML_F16) return w.cols % 16 == 0;
  return w.type == GGML_BF16 && w.cols % 32 == 0;
}

// Of those, the AVX-512 kernels read the 16-bit values (TileArgs::act_16bit); AVX2's take them widened to f32.
bool reads_16bit_rows(const Matrix& w, Variant v) { return v == Variant::Avx512 && blocks_activations(w, v); }

// Called after each row band of a matmul with the pool thread that ran it, the job, and the band's rows (their
// outputs written).
using BandHook = std::function<void(int thread, int job, int64_t r0, int64_t r1)>;
void run_jobs(ThreadPool& pool, const MatmulJob* in, int n, Variant variant, const BandHook* after_band);

}  // namespace

void matmul_jobs_variant(ThreadPool& pool, const MatmulJob* in, int n, Variant variant) { run_jobs(pool, in, n, variant, nullptr); }

namespace {

void run_jobs(ThreadPool& pool, const MatmulJob* in, int n, Variant requested, const BandHook* after_band) {
  const bool amx = requested == Variant::Amx;
  const Variant variant = vector_variant(requested);
  struct Job { TileFn tile; ActLayout layout; int act_buffer; const uint8_t* act; bool packed; };
  thread_local std::vector<Job> jobs;
  thread_local std::vector<std::vector<uint8_t>> acts;
  thread_local std::vector<std::vector<uint8_t>> gathered;  // per job with a row list: its converted rows in order
  jobs.clear();
  int n_jobs = 0;
  for (int j = 0; j < n; j++) n_jobs += in[j].n_act > 0;
  if (n_jobs == 0) return;

  // Activations are converted once per input and layout (the matrices of a group usually share one), not per row
  // band; a job with a row list then copies its converted rows together.
  int n_buffers = 0;
  if (gathered.size() < size_t(n)) gathered.resize(size_t(n));
  for (int j = 0; j < n; j++) {
    const MatmulJob& J = in[j];
    const int64_t k = J.w->cols;
    // Q4_K batches on AMX tiles: the kernel takes all the rows (it blocks them for the caches itself).
    int per64 = 0;
    if (amx && J.w->type == GGML_Q4_K)
      for (int m = 0; m < J.n_act; m++) per64 += J.gemm_rows ? (J.gemm_rows[m] & kOrderQ4kGemm) != 0 : J.w->gemm_order;
    const bool amx_tile = amx && J.w->type == GGML_Q4_K && avx512::q4k_amx_pays(J.n_act, per64);
    const TileFn tile = amx_tile ? avx512::tile_q4k_amx : tile_for(variant, J.w->type);
    // Every row summed in a batch (none `lone` below) by a kernel that blocks the rows itself: lone rows read the
    // widened layout, so a job mixing the two orders keeps it.
    bool batch_kernel = J.n_act > 1 && !J.rows_alone && tinyblas_shape(*J.w) && reads_16bit_rows(*J.w, variant);
    for (int m = 0; m < J.n_act && batch_kernel; m++) batch_kernel = float_batch_row(J.gemm_rows, m, J.n_act);
    const ActLayout L = act_layout(J.w->type, k, tile != tile_scalar, batch_kernel, tile == avx2::tile);
    jobs.push_back({tile, L, -1, nullptr, variant == Variant::Avx512 && J.w->packed != nullptr});
    if (J.n_act <= 0) continue;
    int buffer = -1;
    for (int i = 0; i < j && buffer < 0; i++) {
      const Job& o = jobs[size_t(i)];
      if (o.act_buffer >= 0 && in[i].x == J.x && o.layout.encoding == L.encoding && o.layout.widen_to_f32 == L.widen_to_f32 &&
          o.layout.split_pairs == L.split_pairs) buffer = o.act_buffer;
    }
    if (buffer < 0) {
      // The rows any job reads of this input.
      int x_rows = 0;
      for (int i = j; i < n; i++) {
        if (in[i].x != J.x || in[i].n_act <= 0) continue;
        if (!in[i].rows) x_rows = std::max(x_rows, in[i].n_act);
        else for (int m = 0; m < in[i].n_act; m++) x_rows = std::max(x_rows, in[i].rows[m] + 1);
      }
      buffer = n_buffers++;
      if (acts.size() < size_t(n_buffers)) acts.resize(size_t(n_buffers));
      acts[size_t(buffer)].resize(L.row_bytes * size_t(x_rows) + kActAlign);
      uint8_t* a = aligned_start(acts[size_t(buffer)]);
      const Variant pv = tile == tile_scalar ? Variant::Scalar : variant;
      const float* x = J.x;
      auto prep = [&](int m, int) { prepare_row(L, pv, x + int64_t(m) * k, k, a + L.row_bytes * size_t(m)); };
      // A row takes well under a microsecond, a parallel section several: a 32-row decode batch preps faster
      // alone (its per-layer matmuls 7-12% faster than with the rows spread over the pool).
      if (x_rows >= 64 && pool.size() > 1) pool.parallel_for(x_rows, prep);
      else for (int m = 0; m < x_rows; m++) prep(m, 0);
    }
    jobs.back().act_buffer = buffer;
  }
  // Buffers are thread-local to this (calling) thread: hand the workers plain pointers.
  for (int j = 0; j < n; j++) {
    Job& jb = jobs[size_t(j)];
    if (jb.act_buffer < 0) continue;
    jb.act = aligned_start(acts[size_t(jb.act_buffer)]);
    if (!in[j].rows) continue;
    // The previous job reading the same rows of the same converted input (an expert's gate, then its up) has
    // gathered them already.
    if (j > 0 && jobs[size_t(j - 1)].act_buffer == jb.act_buffer && in[j - 1].rows == in[j].rows && in[j - 1].n_act == in[j].n_act) {
      jb.act = jobs[size_t(j - 1)].act;
      continue;
    }
    const size_t rb = jb.layout.row_bytes;
    // Consecutive rows (an expert's share of the MoE hidden rows, grouped by expert) are read in place.
    const int32_t* rows = in[j].rows;
    int run = 1;
    while (run < in[j].n_act && rows[run] == rows[0] + run) run++;
    if (run == in[j].n_act) {
      jb.act += rb * size_t(rows[0]);
      continue;
    }
    std::vector<uint8_t>& g = gathered[size_t(j)];
    g.resize(rb * size_t(in[j].n_act));
    for (int m = 0; m < in[j].n_act; m++) std::memcpy(g.data() + rb * size_t(m), jb.act + rb * size_t(in[j].rows[m]), rb);
    jb.act = g.data();
  }

  // Row bands over all matrices, several per thread so uneven progress balances, each job's share of the bands in
  // proportion to its work (rows x activation rows). A tile walks its band 4 rows at a time and runs each 4-row
  // group (unpacked once) against a chunk of activations small enough to stay in L2.
  // Float matrices this large are not in cache from one step to the next (TileArgs::stream_rows).
  constexpr size_t kStreamMinBytes = size_t(256) << 10;
  constexpr int kStreamMaxActs = 16;
  // With packed matrices, bands start at multiples of the packed group size, so their packed rows are whole groups.
  bool any_packed = false;
  int max_act = 0;
  double total_work = 0;
  for (int j = 0; j < n; j++) {
    if (in[j].n_act <= 0) continue;
    any_packed = any_packed || jobs[size_t(j)].packed;
    max_act = std::max(max_act, in[j].n_act);
    total_work += double(in[j].w->rows) * in[j].n_act;
  }
  const int64_t row_align = any_packed ? kPackRows : 4;
  // Batches take fewer, longer bands: a band's first groups wait on memory before its prefetches run ahead.
  const int64_t target_tasks = int64_t(pool.size()) * (max_act >= 8 ? 4 : 8);
  struct Band { int job; int64_t r0, r1; };
  thread_local std::vector<Band> bands;
  bands.clear();
  if (max_act == 1 && pool.size() > 1) {
    // One activation row (decode): the weights stream from memory once, and a section lasts as long as its last
    // band. Guided bands: each a quarter of the work left for two threads (remaining / (2 · threads)), down to
    // kMinBandBytes, so the threads stream long runs and the section ends with bands of a few microseconds (a
    // fixed split left one thread idle for up to a band at the end: 0.5 ms of a 215 MB head's 16 bands).
    constexpr double kMinBandBytes = 64 << 10;
    double remaining = 0;
    for (int j = 0; j < n; j++)
      if (in[j].n_act > 0) remaining += double(in[j].w->rows) * double(row_bytes(in[j].w->type, in[j].w->cols));
    for (int j = 0; j < n; j++) {
      if (in[j].n_act <= 0) continue;
      const int64_t rows = in[j].w->rows;
      const double wrow = double(row_bytes(in[j].w->type, in[j].w->cols));
      for (int64_t r0 = 0; r0 < rows;) {
        const double want = std::max(kMinBandBytes, remaining / (2.0 * pool.size()));
        int64_t band = std::max<int64_t>(1, int64_t(want / wrow));
        band = std::max<int64_t>(row_align, (band + row_align - 1) / row_align * row_align);
        const int64_t r1 = std::min(rows, r0 + band);
        bands.push_back({j, r0, r1});
        remaining -= double(r1 - r0) * wrow;
        r0 = r1;
      }
    }
  } else {
    for (int j = 0; j < n; j++) {
      if (in[j].n_act <= 0) continue;
      const int64_t rows = in[j].w->rows;
      const int64_t parts = std::max<int64_t>(1, int64_t(std::ceil(double(rows) * in[j].n_act * double(target_tasks) / total_work - 1e-9)));
      int64_t band = (rows + parts - 1) / parts;
      band = std::max<int64_t>(row_align, (band + row_align - 1) / row_align * row_align);
      for (int64_t r0 = 0; r0 < rows; r0 += band) bands.push_back({j, r0, std::min(rows, r0 + band)});
    }
    // Longest bands first, so that a section ends on short ones: the experts of a MoE step are one band each, from
    // one activation row to a dozen, and in expert order a long one could come last and leave the other threads
    // idle. Cost per weight byte ~ (decoding + one unit per activation row): the few-rows kernels' measured shape.
    auto cost = [&](const Band& b) {
      constexpr double kDecodeRows = 4;
      return double(b.r1 - b.r0) * double(row_bytes(in[b.job].w->type, in[b.job].w->cols)) * (kDecodeRows + in[b.job].n_act);
    };
    std::stable_sort(bands.begin(), bands.end(), [&](const Band& a, const Band& b) { return cost(a) > cost(b); });
  }

  const Job* job_list = jobs.data();
  const Band* band_list = bands.data();
  pool.parallel_for(int(bands.size()), [&](int task, int thread) {
    const Band& b = band_list[task];
    const Job& jb = job_list[b.job];
    const MatmulJob& J = in[b.job];
    const Matrix& w = *J.w;
    const int64_t k = w.cols;
    const size_t wrow = row_bytes(w.type, k);
    // Rows [0, packed_end) run from the packed copy, the rest (a partial group) from the file's rows.
    const int64_t packed_end = jb.packed ? w.rows / kPackRows * kPackRows : 0;
    const size_t group_bytes = jb.packed ? packed_group_bytes(w.type, k) : 0;
    const uint8_t* a = jb.act;
    // Rows of the two orders (gemm_rows' bit for this type): the AVX-512 Q4_K batch kernel takes them together
    // (each decoded weight row serves both); other kernels get one tile per run of rows, over the band's weights,
    // still in cache. Without gemm_rows a float matrix sums its rows as llama.cpp does a ubatch of this many rows.
    const bool is_float = float_type(w.type);
    const uint8_t* gemm_rows = J.gemm_rows;
    const uint8_t order_bit = is_float ? kOrderFloatBatch : kOrderQ4kGemm;
    const bool by_order = gemm_rows != nullptr && (is_float || w.type == GGML_Q4_K) && J.n_act > 1;
    const bool mixed_tile = by_order && !is_float && variant == Variant::Avx512;
    auto order = [&](int m) { return gemm_rows[m] & order_bit; };
    for (int m0 = 0, m1; m0 < J.n_act; m0 = m1) {
      // A float matrix's rows summed as lone rows (ggml_vec_dot's order: llama.cpp's for one row, for rows of a
      // mul_mat_id, and for matrices tinyBLAS's tiles do not fit) go to the tile together; it keeps each row's sums
      // apart. The quantized kernels give each row of a batch the bits it has alone anyway.
      const bool lone = is_float && (J.rows_alone || !tinyblas_shape(w) || !float_batch_row(gemm_rows, m0, J.n_act));
      const int act_chunk = lone || blocks_activations(w, variant) || jb.tile == avx512::tile_q4k_amx ? J.n_act
                                                                   : int(std::max<size_t>(1, (size_t(192) << 10) / jb.layout.row_bytes));
      m1 = std::min(J.n_act, m0 + act_chunk);
      if (by_order && !mixed_tile)
        for (int m = m0 + 1; m < m1; m++)
          if (order(m) != order(m0)) m1 = m;
      TileArgs t;
      t.wtype = w.type;
      t.k = k;
      t.act = a + jb.layout.row_bytes * size_t(m0);
      t.n_act = m1 - m0;
      t.ldy = w.rows;
      t.single_row = is_float ? lone : J.n_act == 1;
      t.act_16bit = act_16bit(jb.layout);
      t.stream_rows = J.n_act <= kStreamMaxActs && wrow * size_t(w.rows) >= kStreamMinBytes;
      t.gemm_order = gemm_rows != nullptr && w.type == GGML_Q4_K ? order(m0) != 0 : w.gemm_order;
      if (mixed_tile) t.gemm_rows = gemm_rows + m0;
      auto run = [&](TileFn fn, const uint8_t* first, size_t stride, int64_t r0, int64_t r1) {
        t.w = first;
        t.wrow = stride;
        t.nw = int(r1 - r0);
        t.y = J.y + int64_t(m0) * w.rows + r0;
        fn(t);
      };
      t.prefetch_end = jb.packed ? w.packed + size_t(packed_end / kPackRows) * group_bytes : nullptr;
      if (b.r0 < packed_end)
        run(avx512::tile_packed, w.packed + size_t(b.r0 / kPackRows) * group_bytes, group_bytes, b.r0, std::min(b.r1, packed_end));
      const int64_t r0 = std::max(b.r0, packed_end);
      if (r0 < b.r1) run(jb.tile, w.data + size_t(r0) * wrow, wrow, r0, b.r1);
    }
    if (after_band) (*after_band)(thread, b.job, b.r0, b.r1);
  });
}

}  // namespace

namespace {

// First index of the largest value (NaN never counts), -1 when there is none: JavaScript's greedy scan.
int32_t argmax_row(const float* y, int64_t n) {
  int32_t best = -1;
  float best_value = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    if (y[i] > best_value) {
      best_value = y[i];
      best = int32_t(i);
    }
  return best;
}

// The largest value of a range of outputs and its first index (NaN never counts; -1 when no value is above
// -infinity). Taking bests of ranges in any order, ties going to the smaller index, gives argmax_row's answer for
// their union.
struct RowBest {
  float value = -INFINITY;
  int32_t index = -1;
  void take(const RowBest& o) {
    if (o.index >= 0 && (index < 0 || o.value > value || (o.value == value && o.index < index))) *this = o;
  }
};

RowBest best_in(const float* y, int64_t r0, int64_t r1) {
  RowBest b;
  for (int64_t i = r0; i < r1; i++)
    if (y[i] > b.value) {
      b.value = y[i];
      b.index = int32_t(i);
    }
  return b;
}

// gamma_n = n·u / (1 - n·u), u = 2^-24: the relative error bound of n roundings in a float sum.
double gamma(int64_t n) {
  const double nu = double(n) * 0x1p-24;
  return nu / (1 - nu);
}

// How far matmul's value for a row can be from the estimate through a float matrix's Q8_0 copy, for activation
// row x: exact - est = (exact - w·x') + (w·x' - w·x) + (w·x - ŵ·x̂) + (ŵ·x̂ - est), with x' the activations as the
// float products see them (rounded to f16/bf16 for those types), ŵ/x̂ the Q8_0 weights and activations. With
// Cauchy-Schwarz (|a·b| <= |a|·|b|) and the largest row norms of w, ŵ and w - ŵ:
//   |exact - w·x'| <= gamma(k+8)·|w|·|x'|    (any float summation order of k products)
//   |w·x' - w·x|   <= |w|·|x' - x|
//   |w·x - ŵ·x̂|    <= |w - ŵ|·|x| + |ŵ|·|x - x̂|
//   |ŵ·x̂ - est|    <= gamma(nb+2)·(1+u)·S·128·mass (the estimate's roundings, its block scales rounded once more)
double shadow_bound(const ArgmaxShadow& sh, const float* x, const float* x_seen, const block_q8_0* xq, int64_t k, double mass) {
  double x2 = 0, seen2 = 0, seen_err2 = 0, quant_err2 = 0;
  for (int64_t j = 0; j < k; j++) {
    const double v = x[j], seen = x_seen[j];
    const block_q8_0& b = xq[j / QK8_0];
    const double quant = double(fp16_to_fp32(b.d)) * double(b.qs[j % QK8_0]);
    x2 += v * v;
    seen2 += seen * seen;
    seen_err2 += (seen - v) * (seen - v);
    quant_err2 += (quant - v) * (quant - v);
  }
  const double nb = double(k / QK8_0);
  const double bound = gamma(k + 8) * sh.max_norm * std::sqrt(seen2) + sh.max_norm * std::sqrt(seen_err2) +
                       sh.max_error_norm * std::sqrt(x2) + sh.max_copy_norm * std::sqrt(quant_err2) +
                       gamma(int64_t(nb) + 2) * (1 + 0x1p-24) * sh.max_abs_scale * 128 * mass;
  return bound * (1 + 1e-6);  // slack for the double arithmetic of the bound itself
}

}  // namespace

void matmul_argmax(ThreadPool& pool, const Matrix& w, const float* x, int n_act, int32_t* out, const uint8_t* gemm_rows) {
  if (n_act <= 0) return;
  const int64_t k = w.cols;
  // The estimate runs on a packed Q8_0 matrix (AVX-512): the matrix itself, or the Q8_0 copy of a float matrix;
  // on AVX2, on a Q8_0 matrix's own rows for batches (a lone row keeps the exact pass: its head is a stream from
  // memory, where the estimate was not measured).
  const Variant variant = vector_variant(g_auto_variant);
  const bool avx512 = variant == Variant::Avx512 && w.rows % kPackRows == 0;
  const bool avx2 = variant == Variant::Avx2 && w.rows % kPackRows == 0 && n_act >= 2;
  const bool own = w.type == GGML_Q8_0 && w.max_abs_scale > 0 && ((avx512 && w.packed != nullptr) || avx2);
  const ArgmaxShadow* shadow = avx512 && !own && w.shadow && w.shadow->max_abs_scale > 0 ? w.shadow : nullptr;
  if (!own && !shadow) {
    // matmul's values, each band's largest taken right after the band (its outputs still in cache, on both
    // threads) instead of one scan of the whole output after the section on the calling thread alone.
    thread_local std::vector<float> y;
    y.resize(size_t(n_act) * size_t(w.rows));
    thread_local std::vector<RowBest> bests;  // [thread * n_act + m]
    bests.assign(size_t(pool.size()) * size_t(n_act), RowBest{});
    RowBest* best = bests.data();  // thread_local: the pool's threads write through this pointer
    float* values = y.data();
    const BandHook keep_best = [&](int thread, int, int64_t r0, int64_t r1) {
      for (int m = 0; m < n_act; m++) best[size_t(thread) * n_act + m].take(best_in(values + size_t(m) * size_t(w.rows), r0, r1));
    };
    const MatmulJob job{&w, x, nullptr, n_act, values, false, gemm_rows};
    run_jobs(pool, &job, 1, g_auto_variant, &keep_best);
    for (int m = 0; m < n_act; m++) {
      RowBest row;
      for (int th = 0; th < pool.size(); th++) row.take(best[size_t(th) * n_act + m]);
      out[m] = row.index;
    }
    return;
  }
  const ActLayout L = act_layout(GGML_Q8_0, k, true);
  thread_local std::vector<uint8_t> act;
  act.resize(L.row_bytes * size_t(n_act));
  for (int m = 0; m < n_act; m++) prepare_row(L, variant, x + int64_t(m) * k, k, act.data() + L.row_bytes * size_t(m));
  // A float matrix's exact products take the activations in its own layout (f32, or f16/bf16 widened to f32).
  const ActLayout F = act_layout(w.type, k, true);
  thread_local std::vector<uint8_t> seen;
  if (shadow) {
    seen.resize(F.row_bytes * size_t(n_act));
    for (int m = 0; m < n_act; m++) prepare_row(F, Variant::Avx512, x + int64_t(m) * k, k, seen.data() + F.row_bytes * size_t(m));
  }
  const uint8_t* seen_rows = seen.data();  // thread_local: the pool's threads read it through this pointer
  const uint8_t* est_packed = avx2 ? w.data : own ? w.packed : shadow->packed;
  const float est_scale = own ? w.max_abs_scale : shadow->max_abs_scale;

  // The largest estimate of every packed group (16 rows) per activation row, bands of groups over the pool. The
  // estimates themselves are not kept (32 activation rows of a 32000-row head would write 4 MB per step): the few
  // groups that can hold a candidate are estimated again below, for their activation row only (the same bits).
  const size_t group_bytes = avx2 ? kPackRows * row_bytes(GGML_Q8_0, k) : packed_group_bytes(GGML_Q8_0, k);
  const int64_t groups = w.rows / kPackRows;
  // An even number of groups per task: the estimate takes groups in pairs.
  const int64_t per_task = std::max<int64_t>(2, (groups / (int64_t(pool.size()) * 8) + 1) / 2 * 2);
  const int n_tasks = int((groups + per_task - 1) / per_task);
  thread_local std::vector<float> group_top;  // [m * groups + g]: activation row m's largest estimate in group g
  group_top.resize(size_t(groups) * size_t(n_act));
  const uint8_t* a = act.data();
  float* tops = group_top.data();
  // The estimates of groups [g0, g1) for activation rows [m0, m0 + rows): their maxima into group_max, the
  // estimates themselves into y (16 per row) unless it is null.
  auto estimate = [&](int64_t g0, int64_t g1, int m0, int rows, float* y, float* group_max) {
    TileArgs t;
    t.wtype = GGML_Q8_0;
    t.k = k;
    t.w = est_packed + size_t(g0) * group_bytes;
    t.wrow = avx2 ? group_bytes / kPackRows : group_bytes;  // AVX2 reads rows, AVX-512 packed groups
    t.nw = int((g1 - g0) * kPackRows);
    t.act = a + L.row_bytes * size_t(m0);
    t.n_act = rows;
    t.y = y;
    t.ldy = kPackRows;
    t.single_row = rows == 1;
    if (avx2) avx2::tile_q8_0_block_sums(t, group_max, groups);
    else avx512::tile_packed_q8_0_block_sums(t, group_max, groups);
  };
  pool.parallel_for(n_tasks, [&](int task, int) {
    const int64_t g0 = int64_t(task) * per_task;
    estimate(g0, std::min(groups, g0 + per_task), 0, n_act, nullptr, tops + g0);
  });

  // For a Q8_0 matrix, the estimate and matmul's value add the same terms d_b·s (d_b = fl(dw·da), s an exact
  // integer sum) in float, in different orders: each is within gamma(rounding steps)·Σ|terms| of their exact sum,
  // and Σ|terms| <= (1+u)·max|dw|·128·Σ_b |da_b|·Σ_j |a_bj| (|w| <= 128). matmul keeps 8 partial sums per pair
  // (nb roundings each, 3 more to combine them); the estimate one (nb). A float matrix: shadow_bound.
  const int64_t nb = k / QK8_0;
  const TileFn exact_tile = tile_for(variant, w.type);
  const size_t wrow = row_bytes(w.type, k);
  // A packed matrix's candidate rows are read back from its packed copy (read_row): the original's pages may be
  // released (Transformer). A float matrix has no packed copy: its rows are read where they are.
  // Activation row m's argmax from its candidates into out[m]; false when its estimates bound nothing (none finite,
  // or near overflow), which leaves the row to matmul's values.
  auto resolve_row = [&](int m) {
    thread_local std::vector<uint8_t> row_copy;
    const auto* blocks = reinterpret_cast<const block_q8_0*>(a + L.row_bytes * size_t(m));
    double mass = 0;
    for (int64_t b = 0; b < nb; b++) {
      int32_t l1 = 0;
      for (int j = 0; j < QK8_0; j++) l1 += std::abs(int32_t(blocks[b].qs[j]));
      mass += std::fabs(double(fp16_to_fp32(blocks[b].d))) * double(l1);
    }
    const uint8_t* exact_act = own ? a + L.row_bytes * size_t(m) : seen_rows + F.row_bytes * size_t(m);
    const double bound = own ? (gamma(nb + 3) + gamma(nb)) * (1 + 0x1p-24) * double(est_scale) * 128.0 * mass
                             : shadow_bound(*shadow, x + int64_t(m) * k, reinterpret_cast<const float*>(exact_act), blocks, k, mass);
    const float* row_tops = tops + size_t(m) * size_t(groups);
    float top = -INFINITY;
    for (int64_t g = 0; g < groups; g++) top = std::max(top, row_tops[g]);
    if (!std::isfinite(top) || !(bound < 1e30)) return false;
    // Candidates in index order, so equal exact maxima resolve to the first, as the scan does.
    const double floor = double(top) - 2 * bound;
    int32_t best = -1;
    float best_value = -INFINITY;
    for (int64_t g = 0; g < groups; g++) {
      if (!(double(row_tops[g]) >= floor)) continue;  // no candidate in this group
      float e[kPackRows], unused;
      estimate(g, g + 1, m, 1, e, &unused);
      for (int i = 0; i < kPackRows; i++) {
        if (!(double(e[i]) >= floor)) continue;
        const int64_t r = g * kPackRows + i;
        float value;
        TileArgs t;
        t.wtype = w.type;
        t.k = k;
        if (own && w.packed) {
          row_copy.resize(wrow);
          read_row(w, r, row_copy.data());
          t.w = row_copy.data();
        } else {
          t.w = w.data + size_t(r) * wrow;
        }
        t.wrow = wrow;
        t.nw = 1;
        t.act = exact_act;
        t.n_act = 1;
        t.y = &value;
        t.ldy = 1;
        // Float types sum a lone row in vec_dot's order and a batch's rows in tinyBLAS's: as matmul would here.
        t.single_row = own || !float_batch_row(gemm_rows, m, n_act);
        exact_tile(t);
        if (value > best_value) {
          best_value = value;
          best = int32_t(r);
        }
      }
    }
    out[m] = best;
    return true;
  };
  // Rows are independent: spread them over the pool (one row's candidates take a few microseconds).
  thread_local std::vector<uint8_t> unbounded;
  unbounded.assign(size_t(n_act), 0);
  uint8_t* unbounded_rows = unbounded.data();  // thread_local, like seen
  pool.parallel_for(n_act, [&](int m, int) { unbounded_rows[m] = !resolve_row(m); });
  if (std::find(unbounded.begin(), unbounded.end(), 1) == unbounded.end()) return;
  thread_local std::vector<float> full;
  full.resize(size_t(n_act) * size_t(w.rows));
  const Matrix* ws[1] = {&w};
  float* ys[1] = {full.data()};
  matmul_shared_input(pool, ws, ys, 1, x, n_act, gemm_rows);
  for (int m = 0; m < n_act; m++)
    if (unbounded[size_t(m)]) out[m] = argmax_row(full.data() + size_t(m) * size_t(w.rows), w.rows);
}

}  // namespace ir
