#include "thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include "kernels/intrinsics.h"
#define IR_PAUSE() _mm_pause()
#else
#define IR_PAUSE() std::this_thread::yield()
#endif

namespace ir {

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
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks(int thread_index, uint32_t job) {
  for (;;) {
    uint64_t w = work_.load(std::memory_order_acquire);
    if (uint32_t(w >> 32) != job) return;
    const int task = int(uint32_t(w));
    if (task >= n_tasks_.load(std::memory_order_relaxed)) return;
    if (!work_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
    (*fn_)(task, thread_index);
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::parallel_for(int n_tasks, const std::function<void(int, int)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int i = 0; i < n_tasks; i++) fn(i, 0);
    return;
  }
  resting_.store(false, std::memory_order_relaxed);
  fn_ = &fn;
  n_tasks_.store(n_tasks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t job = ++job_;
  work_.store(uint64_t(job) << 32, std::memory_order_release);
  // Publishing the job is one atomic increment while the workers spin; the mutex and the wake-up call are paid
  // only when one of them has gone to sleep. Both sides use sequentially consistent operations on generation_
  // and sleepers_, so either the caller sees the sleeper or the sleeper sees the new generation.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  run_tasks(0, job);
  // Wait for the tasks others claimed, not for every worker: when more threads are runnable than there are cores
  // (V8's background compiler and GC beside a JavaScript-heavy step, other processes), a worker descheduled before
  // it claimed a task used to hold up every parallel section until the scheduler ran it again (stories15M under a
  // JSON schema: forward 0.4 -> 7.7 ms). A worker descheduled inside a task still holds its section up; then
  // spinning would steal the very core it needs, so after a short spin the caller yields.
  for (int spins = 0; done_.load(std::memory_order_acquire) != n_tasks; spins++) {
    if (spins < kCallerSpins) IR_PAUSE();
    else std::this_thread::yield();
  }
}

void ThreadPool::worker_loop(int thread_index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin on the generation with one pause per check (a new section usually follows within microseconds);
    // the clock is read only every few hundred checks.
    const auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
    for (int checks = 1; generation_.load(std::memory_order_acquire) == seen; checks++) {
      IR_PAUSE();
      if (resting_.load(std::memory_order_relaxed) || (checks % 256 == 0 && std::chrono::steady_clock::now() > spin_until)) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_acquire)) return;
    // The job current now (the one that woke it, or a later one when this worker ran late).
    run_tasks(thread_index, uint32_t(work_.load(std::memory_order_acquire) >> 32));
  }
}

}  // namespace ir
