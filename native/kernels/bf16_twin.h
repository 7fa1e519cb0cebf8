// vdpbf16ps without the instruction. llama.cpp's zen4 library sums BF16 weights with AVX512-BF16's vdpbf16ps, which
// adds each f32 lane's pair of bf16·bf16 products into its accumulator, with denormal inputs taken as zero and
// denormal results flushed whatever MXCSR says. Two f32 fused multiply-adds per pair give its bits: the odd
// element's product first, then the even one's (a bf16 product is exact in f32, so each FMA rounds once, as the
// instruction's adds do), with MXCSR's DAZ and FTZ set over them (bf16pp33: 6.4M lanes of random and adversarial
// operands; the other order, or either flag off, differs). So every variant computes the zen4 bits: AVX-512 where
// the instruction is slow or absent (tile_bf16.cc), AVX2 as two 8-lane halves of each 16-lane accumulator
// (tile_simd.cc), the scalar reference one lane at a time (dot_scalar.cc).
// The sums that follow the steps (_mm512_reduce_add_ps, ggml_vec_dot_bf16's double additions) run in the caller's
// environment, as llama.cpp's do: they can make and keep denormals.
#pragma once
#include <xmmintrin.h>

namespace ir {
// Internal linkage: the variant libraries are compiled with different instruction sets (a VEX-encoded copy from
// the AVX-512 library must never serve the scalar one), so each translation unit keeps its own.
namespace {

// MXCSR's DAZ and FTZ for the scope's lifetime (the twin's steps), the caller's flags restored after.
class DazFtzScope {
 public:
  DazFtzScope() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kDaz | kFtz); }
  ~DazFtzScope() { _mm_setcsr(saved_); }
  DazFtzScope(const DazFtzScope&) = delete;
  DazFtzScope& operator=(const DazFtzScope&) = delete;

 private:
  static constexpr unsigned kDaz = 1u << 6, kFtz = 1u << 15;
  unsigned saved_;
};

}  // namespace
}  // namespace ir
