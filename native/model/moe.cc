#include "moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "../kernels/kernel_variants.h"

namespace ir {

namespace {

// exp(x[i] - max) into y and their sum, with ggml_vec_soft_max_f32's operations for the variant in use.
double soft_max_exp(const float* x, float* y, int n, float max) {
  switch (vector_variant(auto_variant())) {
    case Variant::Avx512: return avx512::soft_max_exp(x, y, n, max);
    case Variant::Avx2: return avx2::soft_max_exp(x, y, n, max);
    default: {
      double sum = 0;
      for (int i = 0; i < n; i++) sum += double(y[i] = std::exp(x[i] - max));
      return sum;
    }
  }
}

// Row r's routing: probabilities (ggml_soft_max), the n_used most probable experts in decreasing order (ggml_argsort
// descending — std::sort with its comparator, so even ties come out in llama.cpp's order — then the first n_used),
// and their weights (ggml_get_rows, then ggml_sum_rows / clamp / ggml_div when normalised).
void route_row(const MoeConfig& cfg, const float* logits, float* probs, int32_t* order, int32_t* selected, float* weights) {
  const int n = cfg.n_expert, k = cfg.n_expert_used;
  float max = -INFINITY;
  for (int e = 0; e < n; e++) max = std::max(max, logits[e]);
  const float inv = float(1.0 / soft_max_exp(logits, probs, n, max));
  for (int e = 0; e < n; e++) probs[e] *= inv;
  std::iota(order, order + n, 0);
  // NaN (a broken file) ranks last: std::sort needs a strict weak order, and NaN compares false with everything.
  auto rank = [probs](int32_t e) { return std::isnan(probs[e]) ? -INFINITY : probs[e]; };
  std::sort(order, order + n, [&rank](int32_t a, int32_t b) { return rank(a) > rank(b); });
  for (int i = 0; i < k; i++) weights[i] = probs[selected[i] = order[i]];
  if (!cfg.norm_weights) return;
  double sum = 0;
  for (int i = 0; i < k; i++) sum += double(weights[i]);
  // Clamped to the smallest normal f16 against a zero sum, as llama.cpp does.
  const float total = std::max(float(sum), 6.103515625e-5f);
  for (int i = 0; i < k; i++) weights[i] = weights[i] / total;
}

// Rows of a step in chunks over the pool (routing, combining: per-row work the calling thread would otherwise run
// alone while the other threads wait for the next section); few rows run on the calling thread.
template <class Fn>
void for_row_chunks(ThreadPool& pool, int rows, const Fn& fn) {
  constexpr int kRowsPerTask = 8;
  if (rows < 2 * kRowsPerTask || pool.size() == 1) return fn(0, rows);
  pool.parallel_for((rows + kRowsPerTask - 1) / kRowsPerTask, [&](int task, int) {
    fn(task * kRowsPerTask, std::min(rows, (task + 1) * kRowsPerTask));
  });
}

// Row r of the output: each expert's output times its weight (ggml_mul), then the ranks added in order (ggml_add
// chain): separate roundings, no fused multiply-add (this file is compiled without FMA).
void combine_row(const MoeConfig& cfg, const MoeScratch& s, int r, int n_embd, float* o) {
  const int k = cfg.n_expert_used, sff = cfg.n_ff_shared;
  for (int i = 0; i < k; i++) {
    const float wt = s.weights[size_t(r) * k + i];
    const float* d = &s.down[size_t(s.pair_of[size_t(r) * k + i]) * n_embd];
    if (i == 0)
      for (int j = 0; j < n_embd; j++) o[j] = d[j] * wt;
    else
      for (int j = 0; j < n_embd; j++) {
        const float term = d[j] * wt;
        o[j] = o[j] + term;
      }
  }
  if (sff == 0) return;
  // The shared expert's output times its gate, sigmoid as llama.cpp writes it: silu(g) / g (ggml_silu of a
  // one-element row: g / (1 + expf(-g))), then added to the experts' sum.
  const float g = s.sh_gate_in[size_t(r)], gate = g / (1.0f + std::exp(-g)) / g;
  const float* sh = &s.sh_out[size_t(r) * n_embd];
  for (int j = 0; j < n_embd; j++) {
    const float term = sh[j] * gate;
    o[j] = o[j] + term;
  }
}

}  // namespace

std::vector<Matrix> split_experts(const Matrix& merged, int n_expert) {
  std::vector<Matrix> out;
  const int64_t rows = merged.rows / n_expert;
  const size_t bytes = size_t(rows) * row_bytes(merged.type, merged.cols);
  for (int e = 0; e < n_expert; e++) {
    Matrix m = merged;
    m.rows = rows;
    m.data = merged.data + bytes * size_t(e);
    out.push_back(m);
  }
  return out;
}

AnonymousMemory copy_experts(ThreadPool& pool, std::vector<Matrix>& experts) {
  if (experts.empty()) return {};
  const size_t each = size_t(experts[0].rows) * row_bytes(experts[0].type, experts[0].cols), total = each * experts.size();
  AnonymousMemory copy(total);
  const uint8_t* from = experts[0].data;
  uint8_t* to = copy.data();
  constexpr size_t kChunk = size_t(2) << 20;
  pool.parallel_for(int((total + kChunk - 1) / kChunk), [&](int task, int) {
    const size_t at = size_t(task) * kChunk;
    std::memcpy(to + at, from + at, std::min(kChunk, total - at));
  });
  for (size_t e = 0; e < experts.size(); e++) experts[e].data = to + each * e;
  return copy;
}

void moe_ffn(ThreadPool& pool, const MoeConfig& cfg, const MoeWeights& w, const float* xn, int rows, int n_embd, float* out,
             MoeScratch& s, const uint8_t* gemm_rows) {
  const int E = cfg.n_expert, k = cfg.n_expert_used, ff = cfg.n_ff_exp, pairs = rows * k;
  s.logits.resize(size_t(rows) * E);
  s.probs.resize(size_t(rows) * E);
  s.order.resize(size_t(rows) * E);
  s.selected.resize(size_t(pairs));
  s.weights.resize(size_t(pairs));
  const Matrix* router = &w.router;
  float* router_out = s.logits.data();
  matmul_shared_input(pool, &router, &router_out, 1, xn, rows, gemm_rows);
  for_row_chunks(pool, rows, [&](int r0, int r1) {
    for (int r = r0; r < r1; r++)
      route_row(cfg, &s.logits[size_t(r) * E], &s.probs[size_t(r) * E], &s.order[size_t(r) * E], &s.selected[size_t(r) * k], &s.weights[size_t(r) * k]);
  });

  // Pairs (row, rank) grouped by expert, rows in order within an expert (as mul_mat_id groups them).
  s.count.assign(size_t(E), 0);
  for (int p = 0; p < pairs; p++) s.count[size_t(s.selected[size_t(p)])]++;
  s.start.resize(size_t(E) + 1);
  s.start[0] = 0;
  for (int e = 0; e < E; e++) s.start[size_t(e) + 1] = s.start[size_t(e)] + s.count[size_t(e)];
  s.pair_rows.resize(size_t(pairs));
  s.pair_of.resize(size_t(pairs));
  s.pair_index.resize(size_t(pairs));
  std::iota(s.pair_index.begin(), s.pair_index.end(), 0);
  for (int e = 0; e < E; e++) s.count[size_t(e)] = 0;
  for (int p = 0; p < pairs; p++) {
    const int e = s.selected[size_t(p)], at = s.start[size_t(e)] + s.count[size_t(e)]++;
    s.pair_rows[size_t(at)] = p / k;
    s.pair_of[size_t(p)] = at;
  }

  s.gate.resize(size_t(pairs) * ff);
  s.up.resize(size_t(pairs) * ff);
  s.hidden.resize(size_t(pairs) * ff);
  s.down.resize(size_t(pairs) * n_embd);
  const int sff = cfg.n_ff_shared;
  if (sff > 0) {
    s.sh_gate_in.resize(size_t(rows));
    s.sh_gate.resize(size_t(rows) * sff);
    s.sh_up.resize(size_t(rows) * sff);
    s.sh_hidden.resize(size_t(rows) * sff);
    s.sh_out.resize(size_t(rows) * n_embd);
  }
  // Gate and up of every chosen expert (and of the shared one, a dense FFN: ordinary matmuls) in one parallel
  // section (xn converted once per activation type), then down.
  s.jobs.clear();
  if (sff > 0) {
    s.jobs.push_back({&w.shared_gate_inp, xn, nullptr, rows, s.sh_gate_in.data(), false, gemm_rows});
    s.jobs.push_back({&w.shared_gate, xn, nullptr, rows, s.sh_gate.data(), false, gemm_rows});
    s.jobs.push_back({&w.shared_up, xn, nullptr, rows, s.sh_up.data(), false, gemm_rows});
  }
  for (int e = 0; e < E; e++) {
    const int c = s.count[size_t(e)];
    if (c == 0) continue;
    const size_t at = size_t(s.start[size_t(e)]);
    s.jobs.push_back({&w.gate[size_t(e)], xn, &s.pair_rows[at], c, &s.gate[at * ff], true});
    s.jobs.push_back({&w.up[size_t(e)], xn, &s.pair_rows[at], c, &s.up[at * ff], true});
  }
  matmul_jobs(pool, s.jobs.data(), int(s.jobs.size()));
  // ggml_swiglu_split row by row (its vector loop restarts at each row).
  auto swiglu_rows = [&](int p0, int p1) {
    for (int p = p0; p < p1; p++) swiglu(&s.gate[size_t(p) * ff], &s.up[size_t(p) * ff], &s.hidden[size_t(p) * ff], ff);
  };
  constexpr int kSwigluChunk = 32;
  if (pairs >= 2 * kSwigluChunk && pool.size() > 1)
    pool.parallel_for((pairs + kSwigluChunk - 1) / kSwigluChunk, [&](int task, int) {
      swiglu_rows(task * kSwigluChunk, std::min(pairs, (task + 1) * kSwigluChunk));
    });
  else
    swiglu_rows(0, pairs);
  if (sff > 0)
    for (int r = 0; r < rows; r++) swiglu(&s.sh_gate[size_t(r) * sff], &s.sh_up[size_t(r) * sff], &s.sh_hidden[size_t(r) * sff], sff);
  s.jobs.clear();
  if (sff > 0) s.jobs.push_back({&w.shared_down, s.sh_hidden.data(), nullptr, rows, s.sh_out.data(), false, gemm_rows});
  for (int e = 0; e < E; e++) {
    const int c = s.count[size_t(e)];
    if (c == 0) continue;
    const size_t at = size_t(s.start[size_t(e)]);
    // Every expert's rows of one input: hidden is converted once (over the pool when large), each expert reads
    // its consecutive rows in place.
    s.jobs.push_back({&w.down[size_t(e)], s.hidden.data(), &s.pair_index[at], c, &s.down[at * n_embd], true});
  }
  matmul_jobs(pool, s.jobs.data(), int(s.jobs.size()));

  for_row_chunks(pool, rows, [&](int r0, int r1) {
    for (int r = r0; r < r1; r++) combine_row(cfg, s, r, n_embd, out + size_t(r) * n_embd);
  });
}

}  // namespace ir
