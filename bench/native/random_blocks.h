// Random K-quant weights and Q8_K activation blocks for the bench drivers, from xorshift.h's fixed sequence: the same
// bytes in every run and build, so output hashes compare across revisions.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "../../native/ggml_types.h"
#include "xorshift.h"

// The bytes of a Q4_K, Q5_K or Q6_K super-block.
inline size_t ksuper_block_bytes(int type) {
  return type == ir::GGML_Q4_K ? sizeof(ir::block_q4_K) : type == ir::GGML_Q5_K ? sizeof(ir::block_q5_K) : sizeof(ir::block_q6_K);
}

// n Q4_K, Q5_K or Q6_K super-blocks of random bytes whose scale halves are ordinary numbers (no infinities or NaNs in
// the float steps).
inline std::vector<uint8_t> random_ksuper_blocks(int type, size_t n) {
  const size_t block = ksuper_block_bytes(type);
  std::vector<uint8_t> w(n * block);
  for (auto& b : w) b = uint8_t(xorshift_next());
  for (size_t i = 0; i < n; i++) {
    uint8_t* b = w.data() + i * block;
    const uint16_t d = uint16_t(0x2000 | (xorshift_next() & 0x3ff)), dmin = uint16_t(0x1c00 | (xorshift_next() & 0x3ff));
    if (type != ir::GGML_Q6_K) {  // Q4_K and Q5_K: d, dmin first
      std::memcpy(b, &d, 2);
      std::memcpy(b + 2, &dmin, 2);
    } else {
      std::memcpy(b + block - 2, &d, 2);
    }
  }
  return w;
}

// n activation super-blocks: random quants in -127..127, their 16-element sums, a small scale.
inline std::vector<ir::block_q8_K> random_q8k_blocks(size_t n) {
  std::vector<ir::block_q8_K> act(n);
  for (auto& a : act) {
    a.d = float(xorshift_next() % 1000) / 1e5f;
    for (int j = 0; j < 256; j++) a.qs[j] = int8_t(int(xorshift_next() % 255) - 127);
    for (int j = 0; j < 16; j++) {
      int s = 0;
      for (int q = 0; q < 16; q++) s += a.qs[16 * j + q];
      a.bsums[j] = int16_t(s);
    }
  }
  return act;
}
