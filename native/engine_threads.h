// The addon's one thread pool and the lock that serializes work on it (a forward, a KV block copy).
#pragma once
#include <mutex>

#include "thread_pool.h"

namespace ir {

std::mutex& engine_mutex();
// The pool; created with the hardware's core count on first use unless set_engine_threads came first.
ThreadPool& engine_pool();
// Replaces the pool (waits for running work to finish).
void set_engine_threads(int n);
// A pool of n threads (at most the engine pool's size) for a forward that should not spread over all of them: the
// engine pool itself for its own size, a one-thread pool (no workers: everything runs on the calling thread) for 1.
ThreadPool& engine_pool(int n);

}  // namespace ir
