#include "greedy_chain.h"

#include <vector>

namespace ir {

namespace {

// The first index of the largest value, as the JavaScript samplers pick it.
int32_t argmax(const float* x, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace

std::string validate_greedy_chain(const StepBatch& first, const GreedyChain& chain) {
  if (first.n_logit_rows != first.n_seqs) return "greedy drafting needs exactly one logit row per sequence";
  for (int s = 0; s < first.n_seqs; s++) {
    if (first.seq_ids[first.logit_rows[s]] != s) return "greedy drafting needs logit row s to belong to sequence s";
    if (chain.k[s] < 0 || chain.k[s] > chain.k_max) return "greedy draft lengths must lie in [0, k_max]";
  }
  if (first.exit.n > 0) return "greedy drafting does not take an early-exit plan";
  return "";
}

std::string run_greedy_chain(Transformer& net, ThreadPool& pool, KvPool& kv, const StepBatch& first, const GreedyChain& chain) {
  // With a draft head the logits cover its tokens only; column i stands for token draft_head().token(i).
  const int width = net.logits_width(first);
  const bool reduced = net.uses_draft_head(first);
  std::vector<int> drafted(size_t(first.n_seqs), 0), next_pos(size_t(first.n_seqs));
  std::vector<int32_t> row_seq(size_t(first.n_seqs));
  for (int s = 0; s < first.n_seqs; s++) {
    next_pos[size_t(s)] = first.positions[first.logit_rows[s]] + 1;
    row_seq[size_t(s)] = s;
  }
  std::vector<int32_t> tokens, positions, seq_ids, rows;
  net.forward(pool, kv, first);
  int n_rows = first.n_seqs;
  for (;;) {
    tokens.clear(); positions.clear(); seq_ids.clear(); rows.clear();
    for (int r = 0; r < n_rows; r++) {
      const int s = row_seq[size_t(r)];
      if (drafted[size_t(s)] >= chain.k[s]) continue;
      const int32_t best = argmax(first.logits + size_t(r) * size_t(width), width);
      const int32_t t = reduced ? net.draft_head().token(best) : best;
      chain.out[size_t(s) * size_t(chain.k_max) + size_t(drafted[size_t(s)]++)] = t;
      if (drafted[size_t(s)] == chain.k[s]) continue;  // its last draft token is not fed
      rows.push_back(int32_t(tokens.size()));
      tokens.push_back(t);
      positions.push_back(next_pos[size_t(s)]++);
      seq_ids.push_back(s);
    }
    if (tokens.empty()) return "";
    for (size_t r = 0; r < seq_ids.size(); r++) row_seq[r] = seq_ids[r];
    n_rows = int(tokens.size());
    StepBatch next = first;
    next.n_tokens = n_rows;
    next.tokens = tokens.data();
    next.positions = positions.data();
    next.seq_ids = seq_ids.data();
    next.n_logit_rows = n_rows;
    next.logit_rows = rows.data();
    const std::string problem = net.validate(next, kv);
    if (!problem.empty()) return "greedy drafting: " + problem;
    net.forward(pool, kv, next);
  }
}

}  // namespace ir
