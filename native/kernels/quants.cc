// Reference quantizers and dequantizers. The quantizers follow llama.cpp's ggml-quants.c algorithms step for
// step (same search grids, same rounding helpers, same order of float operations) because llama-quantize output
// is the bit-exact target. This file is compiled with -ffp-contract=off so no FMA changes a rounding.
#include "quants.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

namespace ir {

const int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

int vec_dot_type(int wtype) {
  switch (wtype) {
    case GGML_F16: return GGML_F16;
    case GGML_BF16: return GGML_BF16;
    case GGML_Q4_0: case GGML_Q5_0: case GGML_Q8_0: case GGML_IQ4_NL: return GGML_Q8_0;
    case GGML_Q4_1: case GGML_Q5_1: return GGML_Q8_1;
    case GGML_Q2_K: case GGML_Q3_K: case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K: case GGML_IQ4_XS: return GGML_Q8_K;
    default: return GGML_F32;
  }
}

namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Round half to even through the float adder, exactly like ggml's nearest_int (valid for |x| < 2^22).
inline int nearest_int(float x) {
  float v = x + 12582912.f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Index of the element with the largest magnitude (first one on ties), as the ref quantizers pick `max`.
inline float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; i++) {
    if (amax < std::fabs(x[i])) { amax = std::fabs(x[i]); max = x[i]; }
  }
  return max;
}

// ---- 32-element block formats ---------------------------------------------------------------------------

void quantize_q4_0(const float* x, block_q4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    const float d = signed_absmax(x, 32) / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < 16; j++) {
      const float x0 = x[j] * id, x1 = x[16 + j] * id;
      const uint8_t q0 = uint8_t(std::min(15, int(int8_t(x0 + 8.5f))));
      const uint8_t q1 = uint8_t(std::min(15, int(int8_t(x1 + 8.5f))));
      y[i].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

// Shared by Q4_1 and Q5_1: scale and offset from the block's range.
inline void block_min_max(const float* x, float* mn, float* mx) {
  float lo = FLT_MAX, hi = -FLT_MAX;
  for (int j = 0; j < 32; j++) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
  *mn = lo;
  *mx = hi;
}

void quantize_q4_1(const float* x, block_q4_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    float mn, mx;
    block_min_max(x, &mn, &mx);
    const float d = (mx - mn) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(mn);
    for (int j = 0; j < 16; j++) {
      const float x0 = (x[j] - mn) * id, x1 = (x[16 + j] - mn) * id;
      const uint8_t q0 = uint8_t(std::min(15, int(int8_t(x0 + 0.5f))));
      const uint8_t q1 = uint8_t(std::min(15, int(int8_t(x1 + 0.5f))));
      y[i].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

void quantize_q5_0(const float* x, block_q5_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    const float d = signed_absmax(x, 32) / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
      const float x0 = x[j] * id, x1 = x[16 + j] * id;
      const uint8_t q0 = uint8_t(std::min(31, int(int8_t(x0 + 16.5f))));
      const uint8_t q1 = uint8_t(std::min(31, int(int8_t(x1 + 16.5f))));
      y[i].qs[j] = uint8_t((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= uint32_t((q0 >> 4) & 1) << j;
      qh |= uint32_t((q1 >> 4) & 1) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quantize_q5_1(const float* x, block_q5_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    float mn, mx;
    block_min_max(x, &mn, &mx);
    const float d = (mx - mn) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(mn);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
      const uint8_t q0 = uint8_t((x[j] - mn) * id + 0.5f), q1 = uint8_t((x[16 + j] - mn) * id + 0.5f);
      y[i].qs[j] = uint8_t((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= uint32_t((q0 >> 4) & 1) << j;
      qh |= uint32_t((q1 >> 4) & 1) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quantize_q8_0(const float* x, block_q8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < 32; j++) y[i].qs[j] = int8_t(std::round(x[j] * id));  // half away from zero, as roundf
  }
}

// ---- K-quant helpers (same search procedures as ggml-quants.c) ----------------------------------------------

// Symmetric levels in [-nmax, nmax-1] with an RMSE-weighted scale search (make_qx_quants, rmse_type 1).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::memset(L, 0, size_t(n));
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
    L[i] = int8_t(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; i++) {
      const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; i++) L[i] = int8_t(nmax + std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i]))));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Symmetric 3-bit levels refined by coordinate descent (make_q3_quants with do_rmse).
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::memset(L, 0, size_t(n));
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
    L[i] = int8_t(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; itry++) {
    int n_changed = 0;
    for (int i = 0; i < n; i++) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        const int new_l = std::max(-nmax, std::min(nmax - 1, nearest_int(x[i] * sl2 / slx)));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = int8_t(new_l);
            sumlx = slx;
            suml2 = sl2;
            n_changed++;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; i++) L[i] = int8_t(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric levels in [0, nmax] with scale and min found by a weighted least-squares grid (make_qkx2_quants).
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       float rmin, float rdelta, int nstep, bool use_mad) {
  uint8_t Laux[32];
  float min = x[0], max = x[0];
  float sum_w = weights[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::memset(L, 0, size_t(n));
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; i++) {
    L[i] = uint8_t(std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min)))));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; i++) {
      const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
      Laux[i] = uint8_t(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; i++) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        std::memcpy(L, Laux, size_t(n));
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Packs 2-bit levels: byte l of each 32-byte group holds elements l, l+32, l+64, l+96 of a 128-element half.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < QK_K; j += 128)
    for (int l = 0; l < 32; l++)
      qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

void quantize_q2_K(const float* x, block_q2_K* y, int64_t nb) {
  uint8_t L[QK_K];
  float weights[16], mins[16], scales[16];
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; j++) {
      for (int l = 0; l < 16; l++) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    if (max_scale > 0) {
      const float iscale = 15.f / max_scale;
      for (int j = 0; j < 16; j++) y[i].scales[j] = uint8_t(nearest_int(iscale * scales[j]));
      y[i].d = fp32_to_fp16(max_scale / 15.f);
    } else {
      std::memset(y[i].scales, 0, 16);
      y[i].d = fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
      const float iscale = 15.f / max_min;
      for (int j = 0; j < 16; j++) y[i].scales[j] |= uint8_t(nearest_int(iscale * mins[j]) << 4);
      y[i].dmin = fp32_to_fp16(max_min / 15.f);
    } else {
      y[i].dmin = fp32_to_fp16(0.f);
    }
    for (int j = 0; j < 16; j++) {
      const float d = fp16_to_fp32(y[i].d) * (y[i].scales[j] & 0xF);
      if (!d) continue;
      const float dm = fp16_to_fp32(y[i].dmin) * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = uint8_t(std::max(0, std::min(3, nearest_int((x[16 * j + ii] + dm) / d))));
    }
    pack_2bit(L, y[i].qs);
  }
}

void quantize_q3_K(const float* x, block_q3_K* y, int64_t nb) {
  int8_t L[QK_K];
  float scales[16];
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; j++) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) { amax = std::fabs(scales[j]); max_scale = scales[j]; }
    }
    std::memset(y[i].scales, 0, 12);
    if (max_scale) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; j++) {
        int l = std::max(-32, std::min(31, int(int8_t(nearest_int(iscale * scales[j]))))) + 32;
        if (j < 8) y[i].scales[j] = uint8_t(l & 0xF);
        else y[i].scales[j - 8] |= uint8_t((l & 0xF) << 4);
        l >>= 4;
        y[i].scales[j % 4 + 8] |= uint8_t(l << (2 * (j / 4)));
      }
      y[i].d = fp32_to_fp16(1 / iscale);
    } else {
      y[i].d = fp32_to_fp16(0.f);
    }
    int8_t sc[16];
    q3k_scales(y[i].scales, sc);
    for (int j = 0; j < 16; j++) {
      const float d = fp16_to_fp32(y[i].d) * sc[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = int8_t(std::max(-4, std::min(3, nearest_int(x[16 * j + ii] / d))) + 4);
    }
    std::memset(y[i].hmask, 0, QK_K / 8);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < QK_K; j++) {
      if (L[j] > 3) {
        y[i].hmask[m] |= hm;
        L[j] = int8_t(L[j] - 4);
      }
      if (++m == QK_K / 8) { m = 0; hm = uint8_t(hm << 1); }
    }
    pack_2bit(reinterpret_cast<uint8_t*>(L), y[i].qs);
  }
}

// Q4_K and Q5_K share everything but the level count and the search grid.
template <int kMaxLevel>
void k4_5_levels(const float* x, uint8_t* scales12, ggml_half* d_out, ggml_half* dmin_out, uint8_t* L) {
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; j++) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; l++) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = kMaxLevel == 15 ? make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], -1.f, 0.1f, 20, false)
                                : make_qkx2_quants(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], -0.5f, 0.1f, 15, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; j++) {
    const uint8_t ls = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
    const uint8_t lm = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      scales12[j] = ls;
      scales12[j + 4] = lm;
    } else {
      scales12[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
      scales12[j - 4] |= uint8_t((ls >> 4) << 6);
      scales12[j] |= uint8_t((lm >> 4) << 6);
    }
  }
  *d_out = fp32_to_fp16(max_scale / 63.f);
  *dmin_out = fp32_to_fp16(max_min / 63.f);
  for (int j = 0; j < 8; j++) {
    uint8_t sc, m;
    k4_scale_min(j, scales12, &sc, &m);
    const float d = fp16_to_fp32(*d_out) * sc;
    if (!d) continue;
    const float dm = fp16_to_fp32(*dmin_out) * m;
    for (int ii = 0; ii < 32; ii++) L[32 * j + ii] = uint8_t(std::max(0, std::min(kMaxLevel, nearest_int((x[32 * j + ii] + dm) / d))));
  }
}

void quantize_q4_K(const float* x, block_q4_K* y, int64_t nb) {
  uint8_t L[QK_K];
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    std::memset(y[i].scales, 0, 12);
    k4_5_levels<15>(x, y[i].scales, &y[i].d, &y[i].dmin, L);
    for (int j = 0; j < QK_K; j += 64)
      for (int l = 0; l < 32; l++) y[i].qs[j / 2 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
  }
}

void quantize_q5_K(const float* x, block_q5_K* y, int64_t nb) {
  uint8_t L[QK_K];
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    std::memset(y[i].scales, 0, 12);
    k4_5_levels<31>(x, y[i].scales, &y[i].d, &y[i].dmin, L);
    std::memset(y[i].qh, 0, QK_K / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < QK_K; n += 64, m1 = uint8_t(m1 << 2), m2 = uint8_t(m2 << 2)) {
      for (int j = 0; j < 32; j++) {
        int l1 = L[n + j], l2 = L[n + j + 32];
        if (l1 > 15) { l1 -= 16; y[i].qh[j] |= m1; }
        if (l2 > 15) { l2 -= 16; y[i].qh[j] |= m2; }
        y[i].qs[n / 2 + j] = uint8_t(l1 | (l2 << 4));
      }
    }
  }
}

void quantize_q6_K(const float* x, block_q6_K* y, int64_t nb) {
  int8_t L[QK_K];
  float scales[16];
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ib++) {
      scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      if (std::fabs(scales[ib]) > max_abs_scale) { max_abs_scale = std::fabs(scales[ib]); max_scale = scales[ib]; }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(block_q6_K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < 16; ib++) y[i].scales[ib] = int8_t(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < 16; j++) {
      const float d = fp16_to_fp32(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = int8_t(std::max(-32, std::min(31, nearest_int(x[16 * j + ii] / d))) + 32);
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; l++) {
        ql[l] = uint8_t((L[j + l] & 0xF) | ((L[j + l + 64] & 0xF) << 4));
        ql[l + 32] = uint8_t((L[j + l + 32] & 0xF) | ((L[j + l + 96] & 0xF) << 4));
        qh[l] = uint8_t((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
    }
  }
}

// ---- activation quantizers (llama.cpp x86 backend) --------------------------------------------------------

void quantize_act_q8_0(const float* x, block_q8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[j]));
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    y[i].d = fp32_to_fp16(amax / 127.f);
    for (int j = 0; j < 32; j++) y[i].qs[j] = int8_t(std::nearbyint(x[j] * id));
  }
}

void quantize_act_q8_1(const float* x, block_q8_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += 32) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
      y[i].qs[j] = int8_t(std::nearbyint(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].d = fp32_to_fp16(d);
    y[i].s = fp32_to_fp16(d * float(sum));
  }
}

void quantize_act_q8_K(const float* x, block_q8_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    const float max = signed_absmax(x, QK_K);
    if (max == 0) {
      std::memset(&y[i], 0, sizeof(block_q8_K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; j++) y[i].qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < 16; j++) {
      int sum = 0;
      for (int ii = 0; ii < 16; ii++) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = int16_t(sum);
    }
    y[i].d = 1 / iscale;
  }
}

}  // namespace

void q3k_scales(const uint8_t packed[12], int8_t out[16]) {
  for (int j = 0; j < 16; j++) {
    const int lo = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
    const int hi = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = int8_t((lo | (hi << 4)) - 32);
  }
}

bool can_quantize(int type) {
  switch (type) {
    case GGML_F32: case GGML_F16: case GGML_BF16: case GGML_Q4_0: case GGML_Q4_1: case GGML_Q5_0: case GGML_Q5_1:
    case GGML_Q8_0: case GGML_Q2_K: case GGML_Q3_K: case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K: return true;
    default: return false;
  }
}

void quantize_row_ref(int type, const float* x, uint8_t* dst, int64_t n) {
  const int64_t nb = n / (type_traits(type).block_size ? type_traits(type).block_size : 1);
  switch (type) {
    case GGML_F32: std::memcpy(dst, x, size_t(n) * 4); return;
    case GGML_F16: case GGML_BF16: quantize_activation_row(type, x, dst, n); return;
    case GGML_Q4_0: quantize_q4_0(x, reinterpret_cast<block_q4_0*>(dst), nb); return;
    case GGML_Q4_1: quantize_q4_1(x, reinterpret_cast<block_q4_1*>(dst), nb); return;
    case GGML_Q5_0: quantize_q5_0(x, reinterpret_cast<block_q5_0*>(dst), nb); return;
    case GGML_Q5_1: quantize_q5_1(x, reinterpret_cast<block_q5_1*>(dst), nb); return;
    case GGML_Q8_0: quantize_q8_0(x, reinterpret_cast<block_q8_0*>(dst), nb); return;
    case GGML_Q2_K: quantize_q2_K(x, reinterpret_cast<block_q2_K*>(dst), nb); return;
    case GGML_Q3_K: quantize_q3_K(x, reinterpret_cast<block_q3_K*>(dst), nb); return;
    case GGML_Q4_K: quantize_q4_K(x, reinterpret_cast<block_q4_K*>(dst), nb); return;
    case GGML_Q5_K: quantize_q5_K(x, reinterpret_cast<block_q5_K*>(dst), nb); return;
    case GGML_Q6_K: quantize_q6_K(x, reinterpret_cast<block_q6_K*>(dst), nb); return;
    default: return;
  }
}

void quantize_activation_row(int atype, const float* x, uint8_t* dst, int64_t n) {
  switch (atype) {
    case GGML_F16: {
      auto* o = reinterpret_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) o[i] = fp32_to_fp16(x[i]);
      return;
    }
    case GGML_BF16: {
      auto* o = reinterpret_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) o[i] = fp32_to_bf16(x[i]);
      return;
    }
    case GGML_Q8_0: quantize_act_q8_0(x, reinterpret_cast<block_q8_0*>(dst), n / 32); return;
    case GGML_Q8_1: quantize_act_q8_1(x, reinterpret_cast<block_q8_1*>(dst), n / 32); return;
    case GGML_Q8_K: quantize_act_q8_K(x, reinterpret_cast<block_q8_K*>(dst), n / QK_K); return;
    default: std::memcpy(dst, x, size_t(n) * 4);
  }
}

bool dequantize_row_any(int type, const uint8_t* src, float* y, int64_t n) {
  const int bs = type_traits(type).block_size;
  if (!bs) return false;
  const int64_t nb = n / bs;
  switch (type) {
    case GGML_F32: std::memcpy(y, src, size_t(n) * 4); return true;
    case GGML_F16: {
      auto* s = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) y[i] = fp16_lut(s[i]);
      return true;
    }
    case GGML_BF16: {
      auto* s = reinterpret_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) y[i] = bf16_to_fp32(s[i]);
      return true;
    }
    case GGML_Q4_0: {
      auto* b = reinterpret_cast<const block_q4_0*>(src);
      for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = fp16_lut(b[i].d);
        for (int j = 0; j < 16; j++) {
          y[j] = float((b[i].qs[j] & 0xF) - 8) * d;
          y[j + 16] = float((b[i].qs[j] >> 4) - 8) * d;
        }
      }
      return true;
    }
    case GGML_Q4_1: {
      auto* b = reinterpret_cast<const block_q4_1*>(src);
      for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = fp16_lut(b[i].d), m = fp16_lut(b[i].m);
        for (int j = 0; j < 16; j++) {
          y[j] = float(b[i].qs[j] & 0xF) * d + m;
          y[j + 16] = float(b[i].qs[j] >> 4) * d + m;
        }
      }
      return true;
    }
    case GGML_Q5_0: case GGML_Q5_1: {
      const bool has_min = type == GGML_Q5_1;
      const size_t stride = has_min ? sizeof(block_q5_1) : sizeof(block_q5_0);
      for (int64_t i = 0; i < nb; i++, y += 32) {
        const uint8_t* blk = src + size_t(i) * stride;
        const float d = fp16_lut(*reinterpret_cast<const ggml_half*>(blk));
        const float m = has_min ? fp16_lut(*reinterpret_cast<const ggml_half*>(blk + 2)) : 0.0f;
        const uint8_t* qhp = blk + (has_min ? 4 : 2);
        const uint8_t* qs = qhp + 4;
        uint32_t qh;
        std::memcpy(&qh, qhp, 4);
        const int off = has_min ? 0 : 16;
        for (int j = 0; j < 16; j++) {
          const int x0 = int((qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - off;
          const int x1 = int((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - off;
          y[j] = has_min ? float(x0) * d + m : float(x0) * d;
          y[j + 16] = has_min ? float(x1) * d + m : float(x1) * d;
        }
      }
      return true;
    }
    case GGML_Q8_0: {
      auto* b = reinterpret_cast<const block_q8_0*>(src);
      for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = fp16_lut(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = float(b[i].qs[j]) * d;
      }
      return true;
    }
    case GGML_Q8_1: {
      auto* b = reinterpret_cast<const block_q8_1*>(src);
      for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = fp16_lut(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = float(b[i].qs[j]) * d;
      }
      return true;
    }
    case GGML_Q8_K: {
      auto* b = reinterpret_cast<const block_q8_K*>(src);
      for (int64_t i = 0; i < nb; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++) y[j] = b[i].d * float(b[i].qs[j]);
      return true;
    }
    case GGML_IQ4_NL: {
      auto* b = reinterpret_cast<const block_iq4_nl*>(src);
      for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = fp16_lut(b[i].d);
        for (int j = 0; j < 16; j++) {
          y[j] = d * kIq4nlValues[b[i].qs[j] & 0xF];
          y[j + 16] = d * kIq4nlValues[b[i].qs[j] >> 4];
        }
      }
      return true;
    }
    case GGML_IQ4_XS: {
      auto* b = reinterpret_cast<const block_iq4_xs*>(src);
      for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_lut(b[i].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
          const int ls = ((b[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b[i].scales_h >> (2 * ib)) & 3) << 4);
          const float dl = d * float(ls - 32);
          const uint8_t* qs = b[i].qs + 16 * ib;
          for (int j = 0; j < 16; j++) {
            y[j] = dl * kIq4nlValues[qs[j] & 0xF];
            y[j + 16] = dl * kIq4nlValues[qs[j] >> 4];
          }
        }
      }
      return true;
    }
    case GGML_Q2_K: {
      auto* b = reinterpret_cast<const block_q2_K*>(src);
      for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_lut(b[i].d), dmin = fp16_lut(b[i].dmin);
        const uint8_t* q = b[i].qs;
        int is = 0;
        for (int n128 = 0; n128 < QK_K; n128 += 128, q += 32) {
          for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
              const uint8_t sc = b[i].scales[is++];
              const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
              for (int l = 0; l < 16; l++) *y++ = dl * float((q[l + 16 * half] >> shift) & 3) - ml;
            }
          }
        }
      }
      return true;
    }
    case GGML_Q3_K: {
      auto* b = reinterpret_cast<const block_q3_K*>(src);
      for (int64_t i = 0; i < nb; i++) {
        const float d_all = fp16_lut(b[i].d);
        int8_t sc[16];
        q3k_scales(b[i].scales, sc);
        const uint8_t* q = b[i].qs;
        uint8_t m = 1;
        int is = 0;
        for (int n128 = 0; n128 < QK_K; n128 += 128, q += 32) {
          for (int shift = 0; shift < 8; shift += 2, m = uint8_t(m << 1)) {
            for (int half = 0; half < 2; half++) {
              const float dl = d_all * float(sc[is++]);
              for (int l = 0; l < 16; l++) {
                const int idx = l + 16 * half;
                *y++ = dl * float(((q[idx] >> shift) & 3) - ((b[i].hmask[idx] & m) ? 0 : 4));
              }
            }
          }
        }
      }
      return true;
    }
    case GGML_Q4_K: case GGML_Q5_K: {
      const bool five = type == GGML_Q5_K;
      for (int64_t i = 0; i < nb; i++) {
        const uint8_t* blk = src + size_t(i) * (five ? sizeof(block_q5_K) : sizeof(block_q4_K));
        const float d = fp16_lut(*reinterpret_cast<const ggml_half*>(blk));
        const float dmin = fp16_lut(*reinterpret_cast<const ggml_half*>(blk + 2));
        const uint8_t* scales = blk + 4;
        const uint8_t* qh = blk + 16;
        const uint8_t* ql = five ? blk + 48 : blk + 16;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 4; j++, ql += 32, u1 = uint8_t(u1 << 2), u2 = uint8_t(u2 << 2)) {
          uint8_t sc, m;
          k4_scale_min(2 * j, scales, &sc, &m);
          const float d1 = d * sc, m1 = dmin * m;
          k4_scale_min(2 * j + 1, scales, &sc, &m);
          const float d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; l++) *y++ = d1 * float((ql[l] & 0xF) + (five && (qh[l] & u1) ? 16 : 0)) - m1;
          for (int l = 0; l < 32; l++) *y++ = d2 * float((ql[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0)) - m2;
        }
      }
      return true;
    }
    case GGML_Q6_K: {
      auto* b = reinterpret_cast<const block_q6_K*>(src);
      for (int64_t i = 0; i < nb; i++) {
        const float d = fp16_lut(b[i].d);
        const uint8_t* ql = b[i].ql;
        const uint8_t* qh = b[i].qh;
        const int8_t* sc = b[i].scales;
        for (int n128 = 0; n128 < QK_K; n128 += 128, y += 128, ql += 64, qh += 32, sc += 8) {
          for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * float(sc[is]) * float(q1);
            y[l + 32] = d * float(sc[is + 2]) * float(q2);
            y[l + 64] = d * float(sc[is + 4]) * float(q3);
            y[l + 96] = d * float(sc[is + 6]) * float(q4);
          }
        }
      }
      return true;
    }
    default: return false;
  }
}

}  // namespace ir
