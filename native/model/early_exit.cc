// Early exit for decode steps. After a configured depth the rows' confidence is tested: the top softmax
// probability of the final-norm'd hidden state through the output head, or through a reduced head (a subset of
// its rows, set_exit_head) — in small models the full head costs more than the layers an exit saves, so the
// reduced head keeps the test cheap. A step exits only when every row is confident (rows share each matmul).
//
// K/V of the skipped layers for the exiting positions is filled by state propagation (as in CALM, Schuster et
// al. 2022): the exit layer's hidden state goes through each skipped layer's attention norm and K/V projections
// only. That costs two small projections per skipped layer and never delays a later step; the alternative,
// recomputing the skipped layers for that position during the next step ("deferred fill"), is exact but makes
// every following step run a second row through those layers.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "norm.h"
#include "transformer.h"

namespace ir {

namespace {

// max_i softmax(row)_i.
float top_probability(const float* row, int64_t n) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++) mx = std::max(mx, row[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; i++) sum += std::exp(double(row[i] - mx));
  return float(1.0 / sum);
}

}  // namespace

void Transformer::set_exit_head(const std::vector<int32_t>& token_ids, ThreadPool& pool) { exit_head_.set(w_.output, token_ids, pool); }

bool Transformer::try_exit(ThreadPool& pool, KvPool& kv, const StepBatch& b, int done, Activations& a) {
  const ExitPlan& plan = b.exit;
  if (plan.n == 0 || b.n_logit_rows != b.n_tokens || done >= cfg_.n_layer) return false;
  int e = 0;
  while (e < plan.n && plan.layers[e] != done) e++;
  if (e == plan.n) return false;
  const int T = b.n_tokens, d = cfg_.n_embd;
  a.head_in.resize(size_t(T) * d);
  for (int r = 0; r < T; r++) rmsnorm(&a.x[size_t(b.logit_rows[r]) * d], w_.output_norm, d, cfg_.rms_eps, &a.head_in[size_t(r) * d]);
  const bool reduced = !exit_head_.empty();
  const Matrix& head = reduced ? exit_head_.matrix() : w_.output;
  float* test = b.logits;
  if (reduced) {
    exit_logits_.resize(size_t(T) * size_t(head.rows));
    test = exit_logits_.data();
  }
  matmul(pool, head, a.head_in.data(), T, test);
  finish_logits(test, T, head.rows);
  for (int r = 0; r < T; r++)
    if (top_probability(test + size_t(r) * size_t(head.rows), head.rows) < plan.thresholds[e]) return false;
  if (reduced) {
    matmul(pool, w_.output, a.head_in.data(), T, b.logits);
    finish_logits(b.logits, T, w_.output.rows);
  }
  fill_skipped_kv(pool, kv, b, done, a);
  if (plan.layers_used) for (int r = 0; r < T; r++) plan.layers_used[r] = done;
  return true;
}

void Transformer::fill_skipped_kv(ThreadPool& pool, KvPool& kv, const StepBatch& b, int from_layer, Activations& a) {
  const int T = b.n_tokens, d = cfg_.n_embd, kv_dim = cfg_.n_head_kv * cfg_.head_dim;
  for (int l = from_layer; l < cfg_.n_layer; l++) {
    const LayerWeights& L = w_.layers[size_t(l)];
    for (int i = 0; i < T; i++) rmsnorm(&a.x[size_t(i) * d], L.attn_norm, d, cfg_.rms_eps, &a.xn[size_t(i) * d]);
    matmul(pool, L.wk, a.xn.data(), T, a.k.data());
    matmul(pool, L.wv, a.xn.data(), T, a.v.data());
    add_bias(a.k.data(), L.bk, T, kv_dim);
    add_bias(a.v.data(), L.bv, T, kv_dim);
    write_kv(kv, b, l, L, 0, T, a);
  }
}

}  // namespace ir
