// x86 instruction-set features of the running CPU (and OS support for their register state), read once.
#pragma once

namespace ir {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
};

const CpuFeatures& cpu_features();

}  // namespace ir
