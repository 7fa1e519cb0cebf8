// Greedy drafting in one native call: a drafting round of k tokens per sequence is k forwards that each feed the
// previous forward's argmax back in. Running the loop here instead of in JavaScript saves, per drafted token, the
// trip through the event loop, a logits copy to JS and a 32k-entry argmax in JS.
#pragma once
#include <cstdint>
#include <string>

#include "transformer.h"

namespace ir {

struct GreedyChain {
  const int32_t* k = nullptr;  // tokens to draft per sequence (0 = none)
  int k_max = 0;               // row length of out
  int32_t* out = nullptr;      // out[s * k_max + i]: the i-th token drafted for sequence s
};

// Runs `first` (whose logit row s must be the last token of sequence s), then keeps feeding each sequence its
// argmax at the next position until it has k[s] tokens. Returns "" or what was wrong (a follow-up position
// beyond a block table); the K/V of every fed token is written, as with forward.
std::string run_greedy_chain(Transformer& net, ThreadPool& pool, KvPool& kv, const StepBatch& first, const GreedyChain& chain);

// Checks that the chain fits the batch: one logit row per sequence, in sequence order; k[s] in [0, k_max].
std::string validate_greedy_chain(const StepBatch& first, const GreedyChain& chain);

}  // namespace ir
