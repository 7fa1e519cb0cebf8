// The C library's expf on many lanes at once, bit for bit. llama.cpp's flash attention weighs every position
// with libm's expf (its online softmax), and matching its output token for token means matching those values
// exactly; calling expf once per position and head was a sixth of a prefill.
#pragma once
#include <cstdint>

namespace ir {

// y[i] = expf(x[i]) for i < n, the same bits as the C library's expf. x and y may be the same array.
void expf_libm_row(const float* x, float* y, int n);

// Whether expf_libm_row runs vectorized here: on AVX-512 CPUs whose C library computes expf with glibc's
// algorithm (checked on sample inputs at load; elsewhere it calls expf per element).
bool expf_libm_vectorized();

// Counts the x among `count` consecutive float bit patterns from `first_bits` for which expf_libm_row and the C
// library's expf differ (NaN results compare equal to NaN); for the exhaustive test.
int64_t expf_libm_mismatches(uint32_t first_bits, uint32_t count, uint32_t* first_mismatch_bits);

}  // namespace ir
