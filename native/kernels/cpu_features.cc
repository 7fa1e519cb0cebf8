#include "cpu_features.h"

#include <cstdlib>
#include <string>

namespace ir {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
    // GCC/Clang's cpu model also checks XCR0, so a feature the OS does not save is reported absent.
    __builtin_cpu_init();
    c.avx = __builtin_cpu_supports("avx");
    c.avx2 = __builtin_cpu_supports("avx2");
    c.fma = __builtin_cpu_supports("fma");
    c.f16c = __builtin_cpu_supports("f16c");
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx512dq = __builtin_cpu_supports("avx512dq");
    c.avx512bw = __builtin_cpu_supports("avx512bw");
    c.avx512vl = __builtin_cpu_supports("avx512vl");
    c.avx512vnni = __builtin_cpu_supports("avx512vnni");
    c.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#endif
    const char* env = std::getenv("INFER_REPL_KERNELS");
    const std::string cap = env ? env : "";
    if (cap == "avx2" || cap == "scalar") c.avx512f = c.avx512dq = c.avx512bw = c.avx512vl = c.avx512vnni = c.avx512bf16 = false;
    if (cap == "scalar") c.avx = c.avx2 = c.fma = c.f16c = false;
    return c;
  }();
  return f;
}

}  // namespace ir
