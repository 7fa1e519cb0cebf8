// The next step's draft chain, drafted in the gap between two speculative steps. A one-call speculative step
// (greedy chain, then the target's verify by argmax) knows when it ends what the JavaScript side will do next for a
// lone drafting sequence: it keeps the drafts up to the first the target's argmax refuses, emits the target's token
// there (after all k drafts: the last draft, then the target's next token), and drafts again from there. So the
// step starts that chain on a thread of its own and returns: it runs on the core that is otherwise idle while the
// JavaScript side handles the step's result and builds the next one. The next step takes its tokens when its chain
// batch is exactly the one the job ran (same model, cache, blocks, tokens, positions and flags; the same forwards
// give the same tokens), and drafts as before otherwise (the sequence stopped, the draft head changed, ...). Draft
// K/V the job wrote past what the next chain feeds lies beyond the sequence's cursor: it is overwritten before
// anything reads it (attention reads positions up to a row's own).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "greedy_chain.h"

namespace ir {

class AheadDraft {
 public:
  ~AheadDraft();

  // Starts the chain that feeds `tokens` (one sequence) from `position` with the flags and block table of
  // `like` (a chain batch of that sequence alone), drafting k tokens. A job still running is stopped first.
  void start(Transformer& net, KvPool& kv, const StepBatch& like, std::vector<int32_t> tokens, int position, int k);

  // When the job ran exactly the chain `first`/`chain` would on net/kv: waits for it, writes its drafts to
  // chain.out and returns true. Either way no job is left afterwards.
  bool take(const Transformer& net, const KvPool& kv, const StepBatch& first, const GreedyChain& chain);

  // Waits for the job and forgets it: before anything else uses the engine (the job uses the draft model and its
  // cache).
  void stop();

  // Chains taken from a job / run because the job did not match (or none ran), since the process started.
  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread thread_;
  bool quit_ = false;
  bool running_ = false;  // a job is queued or running
  bool valid_ = false;    // a job was started and not yet taken or stopped; false too when the chain failed
  // The job, written by start() while no job runs.
  Transformer* net_ = nullptr;
  KvPool* kv_ = nullptr;
  StepBatch batch_;
  std::vector<int32_t> table_, table_offsets_, tokens_, positions_, seq_ids_, logit_row_, steps_, out_;
  std::atomic<int64_t> hits_{0}, misses_{0};
};

// The process's one job (the engine runs one step at a time).
AheadDraft& ahead_draft();

}  // namespace ir
