#include "engine_threads.h"

#include <memory>
#include <thread>

namespace ir {

static std::unique_ptr<ThreadPool> g_pool;

std::mutex& engine_mutex() {
  static std::mutex m;
  return m;
}

ThreadPool& engine_pool() {
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(int(std::thread::hardware_concurrency()));
  return *g_pool;
}

void set_engine_threads(int n) {
  std::lock_guard<std::mutex> lock(engine_mutex());
  if (g_pool && g_pool->size() == n) return;
  g_pool.reset();
  g_pool = std::make_unique<ThreadPool>(n);
}

}  // namespace ir
