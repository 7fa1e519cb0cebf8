#include "ahead_draft.h"

#include <algorithm>

namespace ir {

AheadDraft::~AheadDraft() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AheadDraft::start(Transformer& net, KvPool& kv, const StepBatch& like, std::vector<int32_t> tokens, int position, int k) {
  stop();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    net_ = &net;
    kv_ = &kv;
    const int32_t* table = like.table(0, 0);
    table_.assign(table, table + (like.table_offsets[1] - like.table_offsets[0]));
    table_offsets_ = {0, int32_t(table_.size())};
    tokens_ = std::move(tokens);
    const int n = int(tokens_.size());
    positions_.resize(size_t(n));
    for (int i = 0; i < n; i++) positions_[size_t(i)] = position + i;
    seq_ids_.assign(size_t(n), 0);
    logit_row_ = {n - 1};
    steps_ = {k};
    out_.assign(size_t(k), 0);
    batch_ = like;
    batch_.n_tokens = n; batch_.tokens = tokens_.data(); batch_.positions = positions_.data(); batch_.seq_ids = seq_ids_.data();
    batch_.n_seqs = 1; batch_.block_tables = table_.data(); batch_.table_offsets = table_offsets_.data();
    batch_.window_block_tables = batch_.window_table_offsets = nullptr;
    batch_.n_logit_rows = 1; batch_.logit_rows = logit_row_.data(); batch_.logits = nullptr; batch_.argmax = nullptr;
    batch_.row_arithmetic = nullptr;
    running_ = valid_ = true;
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  changed_.notify_all();
}

void AheadDraft::run() {
  ThreadPool pool(1);  // no workers: the chain runs on this thread alone, as the draft's one-thread pool does
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return quit_ || running_; });
    if (quit_) return;
    lock.unlock();
    // A position past the block table (the next step's chain may need fewer) or a failed forward: no job to take.
    bool ok = net_->validate(batch_, *kv_).empty();
    if (ok) {
      try {
        ok = run_greedy_chain(*net_, pool, *kv_, batch_, GreedyChain{steps_.data(), steps_[0], out_.data()}).empty();
      } catch (...) {
        ok = false;
      }
    }
    lock.lock();
    valid_ = valid_ && ok;
    running_ = false;
    changed_.notify_all();
  }
}

void AheadDraft::stop() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !running_; });
  valid_ = false;
}

bool AheadDraft::take(const Transformer& net, const KvPool& kv, const StepBatch& first, const GreedyChain& chain) {
  std::unique_lock<std::mutex> lock(mutex_);
  const int n = int(tokens_.size());
  // Feeding the same tokens at the same positions into the same blocks with the same flags, then k greedy steps,
  // drafts the same tokens; a chain of fewer steps drafts their first ones.
  bool fits = valid_ && net_ == &net && kv_ == &kv && first.n_seqs == 1 && first.n_tokens == n && chain.k[0] > 0 &&
              chain.k[0] <= steps_[0] && first.draft_head == batch_.draft_head && first.n_layers == batch_.n_layers &&
              !first.row_arithmetic && !first.window_block_tables && first.exit.n == 0;
  for (int i = 0; fits && i < n; i++)
    fits = first.tokens[i] == tokens_[size_t(i)] && first.positions[i] == positions_[size_t(i)] && first.seq_ids[i] == 0;
  if (fits) {
    const int32_t* table = first.table(0, 0);
    const int n_blocks = first.table_offsets[1] - first.table_offsets[0];
    const int last_block = (positions_[0] + n - 1 + steps_[0] - 1) / kv.block_size();
    fits = last_block < n_blocks && last_block < int(table_.size());
    for (int j = 0; fits && j <= last_block; j++) fits = table[j] == table_[size_t(j)];
  }
  if (fits) {
    changed_.wait(lock, [this] { return !running_; });
    fits = valid_;
  }
  if (fits) std::copy_n(out_.begin(), chain.k[0], chain.out);
  (fits ? hits_ : misses_)++;
  lock.unlock();
  stop();
  return fits;
}

AheadDraft& ahead_draft() {
  // Never destroyed: a model or cache finalized during the process's exit stops its job through it, whatever the
  // order in which exit tears down statics and the JavaScript environment.
  static AheadDraft* ahead = new AheadDraft;
  return *ahead;
}

}  // namespace ir
