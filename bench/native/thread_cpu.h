// The bench drivers' clock: the calling thread's CPU time, which a loaded machine's other processes do not add to.
#pragma once
#include <ctime>

inline double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}
