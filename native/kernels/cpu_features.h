// x86 instruction-set features of the running CPU (and OS support for their register state), read once.
// INFER_REPL_KERNELS=avx2 hides the AVX-512 ones (and AMX) and =scalar all of them, so that every kernel (matmul,
// attention, expf) takes the paths a narrower CPU would: for benchmarking, and for tests that check those paths
// compute the same numbers. INFER_REPL_AMX=0 hides AMX alone (A/B of the AMX Q4_K kernel against AVX-512 VNNI).
// INFER_REPL_BF16_FMA=0|1 picks BF16 batches' instruction (CpuFeatures::bf16_fma) instead of the CPU's vendor;
// INFER_REPL_AVX512BF16=0 hides AVX512-BF16 alone (the AVX-512 variant then runs vdpbf16ps's twin everywhere, as on a
// CPU without it).
#pragma once

namespace ir {

struct CpuFeatures {
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512dq = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
  // AMX-TILE and AMX-INT8, and Linux granted this process the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM).
  bool amx_int8 = false;
  // AVX-512's BF16 batches as two f32 FMAs per bf16 pair instead of vdpbf16ps (the same bits: bf16_twin.h): without
  // AVX512-BF16, and on Intel cores, where vdpbf16ps retires one per two cycles, half the FMAs' multiply-adds
  // (Sapphire Rapids: 53 against 106 GMAC/s on one core; AMD's Zen 4/5 run it at twice the FMA's rate).
  // INFER_REPL_BF16_FMA=0/1 overrides where the CPU has the instruction.
  bool bf16_fma = false;
  // GenuineIntel: decode's F16/BF16 weight rows take software prefetches (kernel_variants.h, kLonePrefetchBytes).
  bool intel = false;
  // The core's L2 in bytes (0: unknown): AVX-512 F16 batches keep a band of weight rows in half of it (tinyblas_gemm.h).
  long l2_bytes = 0;
};

const CpuFeatures& cpu_features();

}  // namespace ir
