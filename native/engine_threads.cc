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

ThreadPool& engine_pool(int n) {
  ThreadPool& all = engine_pool();
  if (n >= all.size()) return all;
  static std::unique_ptr<ThreadPool> fewer;
  if (!fewer || fewer->size() != n) fewer = std::make_unique<ThreadPool>(n);
  return *fewer;
}

void set_engine_threads(int n) {
  std::lock_guard<std::mutex> lock(engine_mutex());
  if (g_pool && g_pool->size() == n) return;
  g_pool.reset();
  g_pool = std::make_unique<ThreadPool>(n);
}

}  // namespace ir
