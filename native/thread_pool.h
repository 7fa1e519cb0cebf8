// One pool of worker threads owned by the addon. The calling thread takes part in every parallel_for, so a
// pool of n threads runs work on exactly n cores (-t n) and never oversubscribes. Idle workers spin briefly
// (a decode step issues many short parallel sections back to back) and then sleep on a condition variable;
// publishing a job to spinning workers costs one atomic store.
//
// A section ends when its tasks are done, whoever ran them: a worker that has not started yet (asleep, or waiting
// for a core that another thread holds) is not waited for, and joins whatever section is current when it runs.
// With more runnable threads than cores (the REPL's UI beside the engine, other processes), waiting for every
// worker at every section stalled the whole forward until the descheduled one got a core back.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ir {

// The calling thread then runs only on a core nothing else wants (SCHED_IDLE on Linux; no effect elsewhere): for
// background work that must not slow the forward's threads.
void lower_to_idle_priority();

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(task, thread) for task in [0, n_tasks), spread over the pool; returns when all are done.
  // Tasks are handed out dynamically, so uneven tasks balance themselves.
  void parallel_for(int n_tasks, const std::function<void(int, int)>& fn);

  // Lets the workers sleep right away instead of spinning: call when no parallel section will follow soon (the end
  // of a forward, before the JavaScript side builds the next step). Spinning then would only take the cores that
  // the event loop and the thread starting the next forward need (this machine has two).
  void rest() { resting_.store(true, std::memory_order_relaxed); }

 private:
  void worker_loop(int thread_index);
  // Claims and runs tasks of `section` until none is left or another section has started; returns how many it ran.
  int run_tasks(uint32_t section, int thread_index);

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  // The current section's number (upper 32 bits) and its next unclaimed task (lower 32). A task is claimed by a
  // compare-and-swap of this word, so a late worker can never claim a task of a section other than the one whose
  // fields it read.
  std::atomic<uint64_t> claim_{0};
  // A section's task count and function, in slot (section & 1). The caller fills the next section's slot while
  // workers may still read the current word and slot: were there one slot, a worker could read the new count with
  // the old word and claim a task past the old section's end. Slot S & 1 is written again only for section S + 2,
  // after S + 1 has been published, so a claim that succeeds (the word still says S) read S's own fields.
  struct Section {
    std::atomic<int> n_tasks{0};
    std::atomic<const std::function<void(int, int)>*> fn{nullptr};
  };
  Section sections_[2];
  std::atomic<int> done_by_workers_{0};  // tasks of the current section the workers have finished
  std::atomic<bool> stopping_{false};
  std::atomic<int> sleepers_{0};  // workers waiting on wake_
  std::atomic<bool> resting_{false};
};

}  // namespace ir
