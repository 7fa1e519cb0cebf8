#include "greedy_chain.h"

#include <algorithm>
#include <vector>

namespace ir {

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
  // Each forward gives its rows' argmax (matmul_argmax, over the draft head's tokens when the batch asks for it).
  std::vector<int32_t> best_rows(size_t(first.n_seqs));
  std::vector<int> drafted(size_t(first.n_seqs), 0), next_pos(size_t(first.n_seqs));
  std::vector<int32_t> row_seq(size_t(first.n_seqs));
  for (int s = 0; s < first.n_seqs; s++) {
    next_pos[size_t(s)] = first.positions[first.logit_rows[s]] + 1;
    row_seq[size_t(s)] = s;
  }
  std::vector<int32_t> tokens, positions, seq_ids, rows;
  StepBatch head = first;
  head.argmax = best_rows.data();
  net.forward(pool, kv, head);
  int n_rows = first.n_seqs;
  for (;;) {
    tokens.clear(); positions.clear(); seq_ids.clear(); rows.clear();
    for (int r = 0; r < n_rows; r++) {
      const int s = row_seq[size_t(r)];
      if (drafted[size_t(s)] >= chain.k[s]) continue;
      // A row with no finite logit drafts token 0 (a draft is only a proposal: verification decides).
      const int32_t t = std::max(best_rows[size_t(r)], 0);
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
    StepBatch next = head;
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
