#include "thread_pool.h"

#include <chrono>

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include "kernels/intrinsics.h"
#define IR_PAUSE() _mm_pause()
#else
#define IR_PAUSE() std::this_thread::yield()
#endif

namespace ir {

void lower_to_idle_priority() {
#if defined(__linux__)
  const sched_param param{};
  sched_setscheduler(0, SCHED_IDLE, &param);  // 0: the calling thread
#endif
}

// How long a worker spins after its last job before sleeping. Decode issues a new section every few µs.
static constexpr auto kSpinTime = std::chrono::microseconds(200);
// How many pause instructions (~tens of ns each) the caller of parallel_for spins before yielding its core.
static constexpr int kCallerSpins = 2000;

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; i++) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true, std::memory_order_release);
    const uint32_t last = uint32_t(claim_.load() >> 32) + 1;
    sections_[last & 1].n_tasks.store(0, std::memory_order_relaxed);
    claim_.store(uint64_t(last) << 32, std::memory_order_seq_cst);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::run_tasks(uint32_t section, int thread_index) {
  int ran = 0;
  const Section& fields = sections_[section & 1];
  uint64_t word = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (uint32_t(word >> 32) != section) return ran;
    const int task = int(uint32_t(word));
    // Read before the claim; a successful claim proves the word still named this section, so its slot still held
    // this section's fields (see sections_).
    if (task >= fields.n_tasks.load(std::memory_order_acquire)) return ran;
    const std::function<void(int, int)>* fn = fields.fn.load(std::memory_order_acquire);
    if (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    (*fn)(task, thread_index);
    ran++;
    if (thread_index != 0) done_by_workers_.fetch_add(1, std::memory_order_release);
    word = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::parallel_for(int n_tasks, const std::function<void(int, int)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int i = 0; i < n_tasks; i++) fn(i, 0);
    return;
  }
  resting_.store(false, std::memory_order_relaxed);
  // The previous section is over (every task done, so no worker is inside one); the new section's fields go to its
  // own slot, and its number, published last, makes them visible. Publishing is one atomic store while the workers
  // spin; the mutex and the wake-up call are paid only when one of them has gone to sleep. Both sides use
  // sequentially consistent operations on claim_ and sleepers_, so either the caller sees the sleeper or the sleeper
  // sees the new section.
  done_by_workers_.store(0, std::memory_order_relaxed);
  const uint32_t section = uint32_t(claim_.load(std::memory_order_relaxed) >> 32) + 1;
  sections_[section & 1].fn.store(&fn, std::memory_order_relaxed);
  sections_[section & 1].n_tasks.store(n_tasks, std::memory_order_relaxed);
  claim_.store(uint64_t(section) << 32, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  const int by_workers = n_tasks - run_tasks(section, 0);
  // Only tasks a worker has claimed are waited for, and they normally end within microseconds of the caller's. If
  // that worker was descheduled (more runnable threads than cores), spinning would steal the very core it needs,
  // so after a short spin the caller yields.
  for (int spins = 0; done_by_workers_.load(std::memory_order_acquire) != by_workers; spins++) {
    if (spins < kCallerSpins) IR_PAUSE();
    else std::this_thread::yield();
  }
}

void ThreadPool::worker_loop(int thread_index) {
  uint32_t seen = 0;
  const auto section_now = [this] { return uint32_t(claim_.load(std::memory_order_seq_cst) >> 32); };
  for (;;) {
    // Spin on the section number with one pause per check (a new section usually follows within microseconds);
    // the clock is read only every few hundred checks.
    const auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
    for (int checks = 1; section_now() == seen; checks++) {
      IR_PAUSE();
      if (resting_.load(std::memory_order_relaxed) || (checks % 256 == 0 && std::chrono::steady_clock::now() > spin_until)) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] { return section_now() != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
    }
    seen = section_now();
    if (stopping_.load(std::memory_order_acquire)) return;
    run_tasks(seen, thread_index);
  }
}

}  // namespace ir
