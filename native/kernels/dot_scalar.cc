// Scalar reference dot products, one per weight type, written straight from the block formats (independently of
// the SIMD paths, which unpack weights first) with llama.cpp's per-block arithmetic: exact integer sums inside a
// block, then scaled and accumulated in float.
#include "kernel_variants.h"

#include <cmath>
#include <cstring>

#include "bf16_twin.h"
#include "quants.h"

namespace ir {
namespace {

inline float h2f(ggml_half h) { return fp16_lut(h); }

// Weight nibbles/levels of 32-element blocks, as signed integers, with the block's min (0 when symmetric).
inline void block32_levels(int wtype, const uint8_t* blk, int q[32], float* d, float* m) {
  *m = 0;
  switch (wtype) {
    case GGML_Q4_0: case GGML_Q4_1: case GGML_IQ4_NL: {
      const bool has_min = wtype == GGML_Q4_1;
      *d = h2f(*reinterpret_cast<const ggml_half*>(blk));
      if (has_min) *m = h2f(*reinterpret_cast<const ggml_half*>(blk + 2));
      const uint8_t* qs = blk + (has_min ? 4 : 2);
      for (int j = 0; j < 16; j++) {
        const int lo = qs[j] & 0xF, hi = qs[j] >> 4;
        q[j] = wtype == GGML_IQ4_NL ? kIq4nlValues[lo] : lo - (has_min ? 0 : 8);
        q[j + 16] = wtype == GGML_IQ4_NL ? kIq4nlValues[hi] : hi - (has_min ? 0 : 8);
      }
      return;
    }
    case GGML_Q5_0: case GGML_Q5_1: {
      const bool has_min = wtype == GGML_Q5_1;
      *d = h2f(*reinterpret_cast<const ggml_half*>(blk));
      if (has_min) *m = h2f(*reinterpret_cast<const ggml_half*>(blk + 2));
      uint32_t qh;
      std::memcpy(&qh, blk + (has_min ? 4 : 2), 4);
      const uint8_t* qs = blk + (has_min ? 8 : 6);
      for (int j = 0; j < 16; j++) {
        q[j] = int((qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - (has_min ? 0 : 16);
        q[j + 16] = int((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - (has_min ? 0 : 16);
      }
      return;
    }
    default: {  // Q8_0
      auto* b = reinterpret_cast<const block_q8_0*>(blk);
      *d = h2f(b->d);
      for (int j = 0; j < 32; j++) q[j] = b->qs[j];
    }
  }
}

float dot_block32(int wtype, const uint8_t* w, const uint8_t* a, int64_t k) {
  const size_t wsize = size_t(type_traits(wtype).type_size);
  const bool q8_1_act = vec_dot_type(wtype) == GGML_Q8_1;
  float sum = 0;
  int q[32];
  for (int64_t b = 0; b < k / 32; b++) {
    float d, m;
    block32_levels(wtype, w + size_t(b) * wsize, q, &d, &m);
    const uint8_t* ab = a + size_t(b) * (q8_1_act ? sizeof(block_q8_1) : sizeof(block_q8_0));
    const int8_t* aq = reinterpret_cast<const int8_t*>(ab + (q8_1_act ? 4 : 2));
    int isum = 0;
    for (int j = 0; j < 32; j++) isum += q[j] * aq[j];
    const float ad = h2f(*reinterpret_cast<const ggml_half*>(ab));
    sum += float(isum) * (d * ad);
    if (q8_1_act) sum += m * h2f(*reinterpret_cast<const ggml_half*>(ab + 2));
  }
  return sum;
}

// One K-quant super-block as signed levels, a scale per 16 elements and a min per 16 elements.
void ksuper_levels(int wtype, const uint8_t* blk, int q[QK_K], int sc[16], int mn[16], float* d, float* dmin) {
  *dmin = 0;
  for (int j = 0; j < 16; j++) mn[j] = 0;
  switch (wtype) {
    case GGML_Q2_K: {
      auto* b = reinterpret_cast<const block_q2_K*>(blk);
      *d = h2f(b->d);
      *dmin = h2f(b->dmin);
      for (int j = 0; j < 16; j++) { sc[j] = b->scales[j] & 0xF; mn[j] = b->scales[j] >> 4; }
      for (int i = 0; i < QK_K; i++) {
        const int half = i / 128, shift = 2 * ((i % 128) / 32), l = i % 32;
        q[i] = (b->qs[32 * half + l] >> shift) & 3;
      }
      return;
    }
    case GGML_Q3_K: {
      auto* b = reinterpret_cast<const block_q3_K*>(blk);
      *d = h2f(b->d);
      int8_t s[16];
      q3k_scales(b->scales, s);
      for (int j = 0; j < 16; j++) sc[j] = s[j];
      for (int i = 0; i < QK_K; i++) {
        const int half = i / 128, group = (i % 128) / 32, l = i % 32;
        const int lo = (b->qs[32 * half + l] >> (2 * group)) & 3;
        const bool high = b->hmask[l] & (1 << (4 * half + group));
        q[i] = lo - (high ? 0 : 4);
      }
      return;
    }
    case GGML_Q4_K: case GGML_Q5_K: {
      const bool five = wtype == GGML_Q5_K;
      *d = h2f(*reinterpret_cast<const ggml_half*>(blk));
      *dmin = h2f(*reinterpret_cast<const ggml_half*>(blk + 2));
      const uint8_t* qh = blk + 16;
      const uint8_t* ql = blk + (five ? 48 : 16);
      k4_scales_mins_per16(blk + 4, sc, mn);
      for (int i = 0; i < QK_K; i++) {
        const int chunk = i / 64, l = i % 32, upper = (i % 64) / 32;
        int v = upper ? ql[32 * chunk + l] >> 4 : ql[32 * chunk + l] & 0xF;
        if (five && (qh[l] >> (2 * chunk + upper)) & 1) v += 16;
        q[i] = v;
      }
      return;
    }
    case GGML_Q6_K: {
      auto* b = reinterpret_cast<const block_q6_K*>(blk);
      *d = h2f(b->d);
      for (int j = 0; j < 16; j++) sc[j] = b->scales[j];
      for (int i = 0; i < QK_K; i++) {
        const int half = i / 128, group = (i % 128) / 32, l = i % 32;
        const uint8_t lo = b->ql[64 * half + 32 * (group & 1) + l];
        const int low4 = group < 2 ? lo & 0xF : lo >> 4;
        const int high2 = (b->qh[32 * half + l] >> (2 * group)) & 3;
        q[i] = (low4 | (high2 << 4)) - 32;
      }
      return;
    }
    default: {  // IQ4_XS
      auto* b = reinterpret_cast<const block_iq4_xs*>(blk);
      *d = h2f(b->d);
      iq4xs_levels(b, sc, q);
    }
  }
}

float dot_ksuper(int wtype, const uint8_t* w, const uint8_t* a, int64_t k) {
  const size_t wsize = size_t(type_traits(wtype).type_size);
  auto* act = reinterpret_cast<const block_q8_K*>(a);
  int q[QK_K], sc[16], mn[16];
  float sum = 0;
  for (int64_t b = 0; b < k / QK_K; b++) {
    float d, dmin;
    ksuper_levels(wtype, w + size_t(b) * wsize, q, sc, mn, &d, &dmin);
    int isum = 0, msum = 0;
    for (int j = 0; j < 16; j++) {
      int s16 = 0;
      for (int l = 0; l < 16; l++) s16 += q[16 * j + l] * act[b].qs[16 * j + l];
      isum += sc[j] * s16;
      msum += mn[j] * act[b].bsums[j];
    }
    sum += d * act[b].d * float(isum) - dmin * act[b].d * float(msum);
  }
  return sum;
}


// ---- F32/F16/BF16 in the SIMD variants' orders (llama.cpp's zen4 build's, tile_simd.cc), one lane at a time -------
// This library is built with -ffp-contract=off: every product below is rounded unless written as std::fma.

inline float float_at(int wtype, const uint8_t* p, int64_t i) {
  if (wtype == GGML_F32) return reinterpret_cast<const float*>(p)[i];
  const uint16_t h = reinterpret_cast<const uint16_t*>(p)[i];
  return wtype == GGML_F16 ? h2f(h) : bf16_to_fp32(h);
}

// _mm512_reduce_add_ps's tree: lanes i + i+8, then i + i+4, then (0+2) + (1+3).
inline float reduce_add16(const float* v) {
  float t[8], u[4];
  for (int i = 0; i < 8; i++) t[i] = v[i] + v[i + 8];
  for (int i = 0; i < 4; i++) u[i] = t[i] + t[i + 4];
  return (u[0] + u[2]) + (u[1] + u[3]);
}

// ggml_vec_dot's order (a lone row): four 16-lane accumulators over 64-element steps, added (0+2)+(1+3), reduced;
// the k % 64 leftovers as the AVX-512 build compiles its loop (vec_dot_rows): f32 products rounded and added one at
// a time except the last k % 8, fused; f16 products added in double (BF16: bf16_dot below).
float float_vec_dot(int wtype, const uint8_t* w, const uint8_t* a, int64_t k) {
  const int64_t np = k & ~int64_t(63);
  float acc[4][16] = {};
  for (int64_t i = 0; i < np; i += 64)
    for (int j = 0; j < 4; j++)
      for (int l = 0; l < 16; l++) {
        const int64_t e = i + 16 * j + l;
        acc[j][l] = std::fma(float_at(wtype, w, e), float_at(wtype, a, e), acc[j][l]);
      }
  float lanes[16];
  for (int l = 0; l < 16; l++) lanes[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  float sum = reduce_add16(lanes);
  if (wtype != GGML_F32) {
    double d = sum;
    for (int64_t i = np; i < k; i++) d += double(float_at(wtype, w, i) * float_at(wtype, a, i));
    return float(d);
  }
  const int64_t rounded_end = np + ((k - np) & ~int64_t(7));
  for (int64_t i = np; i < rounded_end; i++) sum += float_at(wtype, w, i) * float_at(wtype, a, i);
  for (int64_t i = rounded_end; i < k; i++) sum = std::fma(float_at(wtype, w, i), float_at(wtype, a, i), sum);
  return sum;
}

// tinyBLAS's order (a row of a batch; the driver sends only k % 16 == 0 here, BF16 aside): one 16-lane accumulator,
// one reduction, any leftovers fused into the sum.
float float_tinyblas(int wtype, const uint8_t* w, const uint8_t* a, int64_t k) {
  const int64_t nv = k & ~int64_t(15);
  float acc[16] = {};
  for (int64_t i = 0; i < nv; i += 16)
    for (int l = 0; l < 16; l++) acc[l] = std::fma(float_at(wtype, w, i + l), float_at(wtype, a, i + l), acc[l]);
  float sum = reduce_add16(acc);
  for (int64_t i = nv; i < k; i++) sum = std::fma(float_at(wtype, w, i), float_at(wtype, a, i), sum);
  return sum;
}

// BF16 in the zen4 build's orders, vdpbf16ps's lanes by its twin (bf16_twin.h): steps of 32 elements per 16-lane
// accumulator (lane l: the pair 2l, 2l+1 of the step, odd product first) under DAZ and FTZ, reduced outside them.
// A lone row (ggml_vec_dot_bf16): two accumulators over 64-element steps, each reduced and added in double, the
// k % 64 leftovers' f32 products added in double. A batch row (tinyBLAS, k % 32 == 0): one accumulator.
float bf16_dot(const uint8_t* w, const uint8_t* a, int64_t k, bool single_row) {
  const int64_t step = single_row ? 64 : 32, np = k / step * step;
  float acc[2][16] = {};
  {
    const DazFtzScope steps;
    for (int64_t i = 0; i < np; i += 32)
      for (int l = 0; l < 16; l++) {
        const int64_t e = i + 2 * l;
        float& c = acc[single_row ? (i / 32) % 2 : 0][l];
        c = std::fma(float_at(GGML_BF16, w, e + 1), float_at(GGML_BF16, a, e + 1), c);
        c = std::fma(float_at(GGML_BF16, w, e), float_at(GGML_BF16, a, e), c);
      }
  }
  if (!single_row) return reduce_add16(acc[0]);
  double sum = reduce_add16(acc[0]);
  sum += double(reduce_add16(acc[1]));
  for (int64_t i = np; i < k; i++) sum += double(float_at(GGML_BF16, w, i) * float_at(GGML_BF16, a, i));
  return float(sum);
}

}  // namespace

float vec_dot_ref(int wtype, const uint8_t* w, const uint8_t* a, int64_t k, bool single_row) {
  switch (wtype) {
    case GGML_BF16: return bf16_dot(w, a, k, single_row);
    case GGML_F32: case GGML_F16:
      return single_row ? float_vec_dot(wtype, w, a, k) : float_tinyblas(wtype, w, a, k);
    case GGML_Q4_0: case GGML_Q4_1: case GGML_Q5_0: case GGML_Q5_1: case GGML_Q8_0: case GGML_IQ4_NL:
      return dot_block32(wtype, w, a, k);
    default: return dot_ksuper(wtype, w, a, k);
  }
}

void tile_scalar(const TileArgs& t) {
  const size_t arow = row_bytes(vec_dot_type(t.wtype), t.k);
  for (int r = 0; r < t.nw; r++)
    for (int m = 0; m < t.n_act; m++)
      t.y[int64_t(m) * t.ldy + r] = vec_dot_ref(t.wtype, t.w + t.wrow * size_t(r), t.act + arow * size_t(m), t.k, t.single_row);
}

}  // namespace ir
