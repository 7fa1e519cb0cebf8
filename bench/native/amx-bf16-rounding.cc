// Whether AMX-BF16 (TDPBF16PS) can give the bits of llama.cpp's zen4 BF16 order (vdpbf16ps: per f32 lane, the odd
// element's product added to the accumulator, rounded, then the even one's, rounded; tile_bf16.cc), and at what
// rate. Each check runs one tile product C += A·B (16 x 16 f32 cells, `depth` bf16 pairs per cell) on random and
// adversarial operands (bf16 denormals, tiny and huge exponents, exact cancellation within a pair, accumulators
// denormal or far larger than the products) and compares every cell with a chain of vdpbf16ps lane steps over the
// same pairs in order, the operands as given and with the two elements of every pair swapped (the other order):
//   depth 16 / depth 1: one instruction over 16 pairs / over one pair;
//   depth 1, one element per pair: the pair's elements as two instructions, odd element then even, the other
//     element zero (one product per instruction);
//   and, for depth 1, the model "C + round(p_even + p_odd), rounded once" (both products summed first).
// Then the time per tile product (4 independent C tiles, CPU time) against a register-only vdpbf16ps loop.
// Prints mismatching cells per check (0 = the same bits) and the rates.
//   build: g++ -std=c++17 -O2 -mavx512f -mavx512bf16 -mamx-tile -mamx-bf16 bench/native/amx-bf16-rounding.cc -o /tmp/amx-bf16-rounding
//   usage: amx-bf16-rounding [tile products per check 20000]
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "thread_cpu.h"
#include "xorshift.h"

namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: C (16 x 16 f32); 4, 5: A (16 rows x depth pairs); 6, 7: B (depth rows x 16 pairs).
TileConfig config(int depth) {
  TileConfig c;
  for (int i = 0; i < 4; i++) c.rows[i] = 16, c.colsb[i] = 64;
  for (int i = 4; i < 6; i++) c.rows[i] = 16, c.colsb[i] = uint16_t(4 * depth);
  for (int i = 6; i < 8; i++) c.rows[i] = uint8_t(depth), c.colsb[i] = 64;
  return c;
}

// GCC's tile intrinsics do not tell the compiler they read or write memory.
inline void memory_barrier() { __asm__ volatile("" ::: "memory"); }

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
float bf16_value(uint16_t h) { return float_of(uint32_t(h) << 16); }

// A bf16 of one of six kinds: moderate exponents, any finite value, denormal or tiny, a narrow range (cancellation),
// few mantissa bits (ties), near the f32 range's ends.
uint16_t bf16_of_kind(int kind) {
  const uint64_t r = xorshift_next();
  const uint16_t sign = uint16_t((r & 1) << 15), man = uint16_t((r >> 1) % 128);
  int e;
  switch (kind) {
    case 0: e = 100 + int((r >> 8) % 51); break;
    case 1: e = int((r >> 8) % 255); break;
    case 2: e = int((r >> 8) % 3); break;
    case 3: e = 126 + int((r >> 8) % 3); break;
    case 4: return uint16_t(sign | ((120 + int((r >> 8) % 16)) << 7) | (man & 0x41));
    default: e = (r >> 8) % 2 ? 190 + int((r >> 9) % 64) : int((r >> 9) % 64); break;
  }
  return uint16_t(sign | (e << 7) | man);
}

float accumulator() {
  const uint64_t r = xorshift_next();
  const uint32_t sign = uint32_t(r) & 0x80000000u, man = uint32_t(r >> 8) & 0x7fffffu;
  switch ((r >> 40) % 4) {
    case 0: return 0.f;
    case 1: return float_of(sign | (uint32_t(100 + (r >> 42) % 55) << 23) | man);
    case 2: return float_of(sign | man);  // denormal
    default: return float_of(sign | (uint32_t(1 + (r >> 42) % 254) << 23) | man);
  }
}

bool same(float a, float b) { return std::isnan(a) ? std::isnan(b) : bits_of(a) == bits_of(b); }

struct Operands {
  alignas(64) uint16_t a[16][32];  // A: row m, pair p = elements 2p (even), 2p+1 (odd)
  alignas(64) uint16_t b[16][32];  // B: row p = pair p of the 16 columns
  alignas(64) float c[16][16];
};

void random_operands(Operands& o, long it, int depth) {
  const int kind = int(it % 7);  // 6: every element of its own kind
  std::memset(o.a, 0, sizeof o.a);
  std::memset(o.b, 0, sizeof o.b);
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 2 * depth; j++) o.a[i][j] = bf16_of_kind(kind == 6 ? int(xorshift_next() % 6) : kind);
  for (int p = 0; p < depth; p++)
    for (int j = 0; j < 32; j++) o.b[p][j] = bf16_of_kind(kind == 6 ? int(xorshift_next() % 6) : kind);
  if (it % 3 == 1) {  // pairs whose two products cancel exactly: B's two elements equal, A's opposite
    for (int p = 0; p < depth; p++)
      for (int n = 0; n < 16; n++) o.b[p][2 * n + 1] = o.b[p][2 * n];
    for (int m = 0; m < 16; m++)
      for (int p = 0; p < depth; p++)
        if (xorshift_next() % 2) o.a[m][2 * p + 1] = o.a[m][2 * p] ^ 0x8000;
  }
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 16; n++) o.c[m][n] = accumulator();
}

// C += A·B on the tiles (configuration loaded for `depth`).
void tile_product(const Operands& o, float (*out)[16]) {
  memory_barrier();
  _tile_loadd(0, o.c, 64);
  _tile_loadd(4, o.a, 64);
  _tile_loadd(6, o.b, 64);
  _tile_dpbf16ps(0, 4, 6);
  _tile_stored(0, out, 64);
  memory_barrier();
}

// The same cells by vdpbf16ps, pair after pair, 16 columns per vector.
void vector_chain(const Operands& o, int depth, float (*out)[16]) {
  for (int m = 0; m < 16; m++) {
    __m512 acc = _mm512_loadu_ps(o.c[m]);
    for (int p = 0; p < depth; p++) {
      uint32_t pair;
      std::memcpy(&pair, &o.a[m][2 * p], 4);
      acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32(int(pair)), (__m512bh)_mm512_loadu_si512(o.b[p]));
    }
    _mm512_storeu_ps(out[m], acc);
  }
}

void swap_pairs(const Operands& o, Operands& s) {
  s = o;
  for (int i = 0; i < 16; i++)
    for (int p = 0; p < 16; p++) {
      std::swap(s.a[i][2 * p], s.a[i][2 * p + 1]);
      std::swap(s.b[i][2 * p], s.b[i][2 * p + 1]);
    }
}

long count_diff(float (*x)[16], float (*y)[16]) {
  long d = 0;
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 16; n++) d += !same(x[m][n], y[m][n]);
  return d;
}

void check(int depth, long iters) {
  const TileConfig cfg = config(depth);
  _tile_loadconfig(&cfg);
  long plain = 0, swapped = 0, summed_first = 0;
  static Operands o, s;
  alignas(64) float t[16][16], ts[16][16], v[16][16];
  for (long it = 0; it < iters; it++) {
    random_operands(o, it, depth);
    swap_pairs(o, s);
    tile_product(o, t);
    tile_product(s, ts);
    vector_chain(o, depth, v);
    plain += count_diff(t, v);
    swapped += count_diff(ts, v);
    if (depth == 1)
      for (int m = 0; m < 16; m++)
        for (int n = 0; n < 16; n++) {
          // Products of bf16 values are exact in double; their sum and the accumulator's add are rounded to f32.
          const double p0 = double(bf16_value(o.a[m][0])) * bf16_value(o.b[0][2 * n]);
          const double p1 = double(bf16_value(o.a[m][1])) * bf16_value(o.b[0][2 * n + 1]);
          summed_first += !same(float(double(o.c[m][n]) + double(float(p0 + p1))), t[m][n]);
        }
  }
  _tile_release();
  std::printf("depth %2d: %ld cells, differ from vdpbf16ps: as given %ld, pairs swapped %ld", depth, iters * 256, plain, swapped);
  if (depth == 1) std::printf("; from C + round(p_even + p_odd): %ld", summed_first);
  std::printf("\n");
}

// The one-product-per-instruction route: per pair, the odd element (the even one zero), then the even element.
void check_single_products(long iters) {
  const TileConfig cfg = config(1);
  _tile_loadconfig(&cfg);
  long diff = 0;
  static Operands o, odd, even;
  alignas(64) float t[16][16], v[16][16];
  for (long it = 0; it < iters; it++) {
    random_operands(o, it, 1);
    odd = o;
    even = o;
    for (int m = 0; m < 16; m++) odd.a[m][0] = 0, even.a[m][1] = 0;
    tile_product(odd, t);
    std::memcpy(even.c, t, sizeof t);
    tile_product(even, t);
    vector_chain(o, 1, v);
    diff += count_diff(t, v);
  }
  _tile_release();
  std::printf("depth  1, one element per instruction (odd, then even): %ld cells, differ from vdpbf16ps: %ld\n", iters * 256, diff);
}

void rates() {
  alignas(64) static uint16_t zeros[16 * 32] = {};
  for (int depth : {1, 16}) {
    const TileConfig cfg = config(depth);
    _tile_loadconfig(&cfg);
    memory_barrier();
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, zeros, 64);
    _tile_loadd(5, zeros, 64);
    _tile_loadd(6, zeros, 64);
    _tile_loadd(7, zeros, 64);
    const long n = 1000000;
    const double t0 = thread_cpu_seconds();
    for (long i = 0; i < n; i++) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    const double per = (thread_cpu_seconds() - t0) / (4.0 * double(n));
    _tile_release();
    std::printf("TDPBF16PS depth %2d: %.2f ns each, %.0f GMAC/CPU-s (all 2 x depth products of a cell)\n", depth, per * 1e9,
                512.0 * depth / per * 1e-9);
  }
  __m512 c[24];
  for (auto& x : c) x = _mm512_setzero_ps();
  __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  const long n = 20000000;
  const double t0 = thread_cpu_seconds();
  for (long i = 0; i < n; i++) {
#pragma GCC unroll 24
    for (int j = 0; j < 24; j++) c[j] = _mm512_dpbf16_ps(c[j], a, a);
    __asm__ volatile("" : "+v"(a));
  }
  const double t = thread_cpu_seconds() - t0;
  float sum = 0;
  for (auto& x : c) sum += _mm512_reduce_add_ps(x);
  std::printf("vdpbf16ps, 24 chains in registers: %.0f GMAC/CPU-s (%g)\n", 24.0 * 32 * double(n) / t * 1e-9, double(sum));
}

}  // namespace

int main(int argc, char** argv) {
  // Linux grants the tile data state per process on request (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) {
    std::printf("no AMX tile state\n");
    return 1;
  }
  const long iters = argc > 1 ? std::atol(argv[1]) : 20000;
  check(16, iters);
  check(1, iters);
  check_single_products(iters);
  rates();
}
