// One pool of worker threads owned by the addon. The calling thread takes part in every parallel_for, so a
// pool of n threads runs work on exactly n cores (-t n) and never oversubscribes. Idle workers spin briefly
// (a decode step issues many short parallel sections back to back) and then sleep on a condition variable;
// publishing a job to spinning workers costs one atomic increment.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ir {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(task, thread) for task in [0, n_tasks), spread over the pool; returns when all are done.
  // Tasks are handed out dynamically, so uneven tasks balance themselves. The caller waits for the tasks, not for
  // the workers: a worker that was descheduled before it claimed one holds nothing up (see parallel_for).
  void parallel_for(int n_tasks, const std::function<void(int, int)>& fn);

  // Lets the workers sleep right away instead of spinning: call when no parallel section will follow soon (the end
  // of a forward, before the JavaScript side builds the next step). Spinning then would only take the cores that
  // the event loop and the thread starting the next forward need (this machine has two).
  void rest() { resting_.store(true, std::memory_order_relaxed); }

 private:
  void worker_loop(int thread_index);
  void run_tasks(int thread_index, uint32_t job);

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  // The current job's id (high 32 bits) and its next unclaimed task (low 32 bits): a task is claimed by a
  // compare-and-swap that also checks the job, so a late worker can never take a task of a job it did not see.
  std::atomic<uint64_t> work_{0};
  std::atomic<int> done_{0};  // tasks of the current job finished
  std::atomic<int> n_tasks_{0};
  uint32_t job_ = 0;  // the caller's count of jobs published
  const std::function<void(int, int)>* fn_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::atomic<int> sleepers_{0};  // workers waiting on wake_
  std::atomic<bool> resting_{false};
};

}  // namespace ir
