#include "cpu_features.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <unistd.h>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#endif

namespace ir {

namespace {

// AMX-TILE and AMX-INT8 (CPUID leaf 7: EDX bits 24 and 25), and the tile data state granted to this process: Linux
// enables it per process on request (5.16+; ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA), and a tile instruction
// without it faults. Asked once, here, before any thread could run a tile kernel.
bool amx_int8_usable() {
#if defined(__x86_64__) && defined(__linux__)
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  if (!(d & (1u << 24)) || !(d & (1u << 25))) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

}  // namespace

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
    c.intel = __builtin_cpu_is("intel");
#endif
    const char* env = std::getenv("INFER_REPL_KERNELS");
    const std::string cap = env ? env : "";
    const char* amx_env = std::getenv("INFER_REPL_AMX");
    const bool amx_off = amx_env && std::string(amx_env) == "0";
    if (cap == "avx2" || cap == "scalar") c.avx512f = c.avx512dq = c.avx512bw = c.avx512vl = c.avx512vnni = c.avx512bf16 = false;
    if (cap == "scalar") c.avx = c.avx2 = c.fma = c.f16c = false;
    // The AMX kernel is part of the AVX-512 variant (its float steps are AVX-512's): only asked for with it.
    c.amx_int8 = !amx_off && c.avx512f && c.avx512bw && c.avx512vl && c.avx512vnni && amx_int8_usable();
    const char* bf16_env = std::getenv("INFER_REPL_AVX512BF16");
    if (bf16_env && std::string(bf16_env) == "0") c.avx512bf16 = false;
    const char* fma_env = std::getenv("INFER_REPL_BF16_FMA");
    c.bf16_fma = c.avx512f && (!c.avx512bf16 || (fma_env ? std::string(fma_env) == "1" : c.intel));
#if defined(_SC_LEVEL2_CACHE_SIZE)
    c.l2_bytes = std::max(0L, sysconf(_SC_LEVEL2_CACHE_SIZE));  // glibc reads it from CPUID
#endif
    return c;
  }();
  return f;
}

}  // namespace ir
