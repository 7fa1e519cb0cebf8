// The bench drivers' pseudo-random source: xorshift64 from a fixed seed, so every run multiplies the same weights
// and activations (their bit hashes compare across builds).
#pragma once
#include <cstdint>

inline uint64_t xorshift_next() {
  static uint64_t state = 88172645463325252ull;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}
