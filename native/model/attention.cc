#include "attention.h"

#include "../kernels/cpu_features.h"
#include "../kernels/expf_libm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#if defined(__x86_64__)
#include "../kernels/intrinsics.h"
#endif

namespace ir {

namespace {

// Attention runs in two passes: all scores q·k first (independent per position, so they vectorize across
// positions or across head_dim), then the online softmax over positions in order, which updates the output
// accumulator with one V row at a time (vectorized across head_dim).

// Where each position's K and V rows of the head are, gathered once per call by walking the block table (so
// the inner loops neither divide by the block size nor chase the table).
struct Rows {
  const uint8_t* const* k;
  const uint8_t* const* v;
};

// Attention reads each sequence's K and V once per step, from blocks scattered over the pool (32 sequences of
// ~200 positions: ~40 MB per step, more than the caches hold), in runs too short per block for the hardware
// prefetchers to ramp up: most of the V pass's time went to waiting on its first load. The loops below ask for the
// lines of the positions ahead (32-sequence decode: attention 3.3-3.4 -> 2.1-2.4 ms per step; V rows 24 positions
// ahead beat 8, 16 and 48).

// The lines of G positions' K (transposed f16: dimension j at k + j·stride elements) for hd dimensions.
inline void prefetch_k_group(const uint8_t* k, int stride, int hd) {
#if defined(__x86_64__)
  const size_t bytes = size_t(hd) * size_t(stride) * 2, step = std::max<size_t>(64, size_t(stride) * 2);
  for (size_t off = 0; off < bytes; off += step) _mm_prefetch(reinterpret_cast<const char*>(k + off), _MM_HINT_T0);
#endif
}

// The lines of `bytes` bytes of V from v (one head's row, or several heads' adjacent rows).
inline void prefetch_row(const uint8_t* v, size_t bytes) {
#if defined(__x86_64__)
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(reinterpret_cast<const char*>(v + off), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(v + bytes - 1), _MM_HINT_T0);
#endif
}
constexpr int kVPrefetchDistance = 24;  // positions ahead: far enough to cover a miss, near enough to stay cached

// ---- scores: s[p] = dot(q, k_p) * scale for p < n_ctx --------------------------------------------------

// f16 K (stored transposed, dimension j of position p at k_p[j * stride]) against the f16-rounded query, as
// llama.cpp's ggml_vec_dot_f16 computes it in its AVX-512 build: the first np = hd - hd % 64 dimensions in four
// 16-lane f32 accumulators (accumulator u, lane l holds dimensions 16u + l + 64c, chained by fused multiply-adds
// over c), added as its GGML_F16_VEC_REDUCE does ((a0 + a2) + (a1 + a3), then _mm512_reduce_add_ps's halving
// tree over the lanes), then the other dimensions' exact products added to that in double, in index order.
// A head smaller than 64 has only the double part (stories15M's 48); heads of 64 and 128 only the f32 part.
constexpr int kGgmlF16Step = 64;

inline int ggml_f16_simd_dims(int hd) { return hd - hd % kGgmlF16Step; }

// The sum of 16 lanes as _mm512_reduce_add_ps pairs them: halves, then quarters, then lanes 0+2 and 1+3.
float reduce_add16(const float* v) {
  float t[8];
  for (int i = 0; i < 8; i++) t[i] = v[i] + v[i + 8];
  float u[4];
  for (int i = 0; i < 4; i++) u[i] = t[i] + t[i + 4];
  return (u[0] + u[2]) + (u[1] + u[3]);
}

float dot_f16_ggml(const uint16_t* k, int stride, const float* qh, int hd) {
  const int np = ggml_f16_simd_dims(hd);
  double dot = 0;
  if (np > 0) {
    float lanes[16];
    for (int l = 0; l < 16; l++) {
      float a[4];
      for (int u = 0; u < 4; u++) {
        const int d = 16 * u + l;
        a[u] = fp16_lut(k[size_t(d) * stride]) * qh[d];  // exact: f16 times f16
        for (int c = kGgmlF16Step; c < np; c += kGgmlF16Step) a[u] = std::fma(fp16_lut(k[size_t(d + c) * stride]), qh[d + c], a[u]);
      }
      lanes[l] = (a[0] + a[2]) + (a[1] + a[3]);
    }
    dot = double(reduce_add16(lanes));
  }
  for (int j = np; j < hd; j++) dot += double(fp16_lut(k[size_t(j) * stride]) * qh[j]);
  return float(dot);
}

void scores_f16_portable(const HeadAttention& a, const Rows& rows, const void* q, float* s, int from) {
  const auto* qh = static_cast<const float*>(q);
  const int stride = a.kv->k_dim_stride();
  for (int p = from; p < a.n_ctx; p++)
    s[p] = dot_f16_ggml(reinterpret_cast<const uint16_t*>(rows.k[p]), stride, qh, a.head_dim) * a.scale;
}

#if defined(__x86_64__)
// Positions in lanes: with K transposed, dimension j of G consecutive positions of a block is one contiguous
// vector of f16, and every lane adds its products in dot_f16_ggml's order (bit-identical scores). NG groups of
// positions run together so their addition chains overlap. The block size must be a multiple of G.

// dot_f16_ggml's f32 part (np > 0 dimensions) for 8 positions in lanes; load(d) gives dimension d of them. Per
// lane the operations of ggml_f16_simd_part16 below (and so of dot_f16_ggml), on 8 positions where it takes 16.
template <typename LoadK>
__attribute__((target("avx,fma"), always_inline)) inline __m256 ggml_f16_simd_part8(LoadK load, const float* qh, int np) {
  __m256 lanes[16];
  for (int l = 0; l < 16; l++) {
    __m256 a[4];
    for (int u = 0; u < 4; u++) {
      const int d = 16 * u + l;
      a[u] = _mm256_mul_ps(load(d), _mm256_set1_ps(qh[d]));
      for (int c = kGgmlF16Step; c < np; c += kGgmlF16Step) a[u] = _mm256_fmadd_ps(load(d + c), _mm256_set1_ps(qh[d + c]), a[u]);
    }
    lanes[l] = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
  }
  for (int i = 0; i < 8; i++) lanes[i] = _mm256_add_ps(lanes[i + 8], lanes[i]);
  for (int i = 0; i < 4; i++) lanes[i] = _mm256_add_ps(lanes[i + 4], lanes[i]);
  return _mm256_add_ps(_mm256_add_ps(lanes[0], lanes[2]), _mm256_add_ps(lanes[1], lanes[3]));
}

// NG groups of 8 positions from p (AVX + FMA + F16C): the f32 part of heads of 64+ (ggml_f16_simd_part8), then the
// double part. Heads of 64 and 128 (Qwen2.5, Llama-3.2, Qwen3) took dot_f16_ggml one position at a time here, a
// table lookup per f16: 10-13% of a 16-sequence Qwen2.5-0.5B decode step at ~140 positions.
template <int NG>
__attribute__((target("avx,fma,f16c"))) void scores_f16_groups8(const uint16_t* const* k, int stride, const float* qh, int hd, float scale, float* s) {
  __m256d lo[NG], hi[NG];
  const int np = ggml_f16_simd_dims(hd);
  for (int g = 0; g < NG; g++) {
    if (np == 0) {
      lo[g] = hi[g] = _mm256_setzero_pd();
      continue;
    }
    const uint16_t* kg = k[g];
    const __m256 part = ggml_f16_simd_part8(
        [&](int d) __attribute__((target("avx,f16c"))) {
          return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kg + size_t(d) * stride)));
        },
        qh, np);
    lo[g] = _mm256_cvtps_pd(_mm256_castps256_ps128(part));
    hi[g] = _mm256_cvtps_pd(_mm256_extractf128_ps(part, 1));
  }
  for (int j = np; j < hd; j++) {
    const __m256 qj = _mm256_set1_ps(qh[j]);
    for (int g = 0; g < NG; g++) {
      const __m256 prod = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k[g] + size_t(j) * stride))), qj);
      lo[g] = _mm256_add_pd(lo[g], _mm256_cvtps_pd(_mm256_castps256_ps128(prod)));
      hi[g] = _mm256_add_pd(hi[g], _mm256_cvtps_pd(_mm256_extractf128_ps(prod, 1)));
    }
  }
  for (int g = 0; g < NG; g++) {
    const __m256 dots = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo[g])), _mm256_cvtpd_ps(hi[g]), 1);
    _mm256_storeu_ps(s + 8 * g, _mm256_mul_ps(dots, _mm256_set1_ps(scale)));
  }
}

// NG groups of 16 positions from p (AVX-512).
// dot_f16_ggml's f32 part (np > 0 dimensions) for 16 positions in lanes; load(d) gives dimension d of them.
template <typename LoadK>
__attribute__((target("avx512f,fma"), always_inline)) inline __m512 ggml_f16_simd_part16(LoadK load, const float* qh, int np) {
  __m512 lanes[16];
  for (int l = 0; l < 16; l++) {
    __m512 a[4];
    for (int u = 0; u < 4; u++) {
      const int d = 16 * u + l;
      a[u] = _mm512_mul_ps(load(d), _mm512_set1_ps(qh[d]));
      for (int c = kGgmlF16Step; c < np; c += kGgmlF16Step) a[u] = _mm512_fmadd_ps(load(d + c), _mm512_set1_ps(qh[d + c]), a[u]);
    }
    lanes[l] = _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3]));
  }
  for (int i = 0; i < 8; i++) lanes[i] = _mm512_add_ps(lanes[i + 8], lanes[i]);
  for (int i = 0; i < 4; i++) lanes[i] = _mm512_add_ps(lanes[i + 4], lanes[i]);
  return _mm512_add_ps(_mm512_add_ps(lanes[0], lanes[2]), _mm512_add_ps(lanes[1], lanes[3]));
}

template <int NG>
__attribute__((target("avx512f,fma,f16c"))) void scores_f16_groups16(const uint16_t* const* k, int stride, const float* qh, int hd, float scale, float* s) {
  __m512d lo[NG], hi[NG];
  const int np = ggml_f16_simd_dims(hd);
  for (int g = 0; g < NG; g++) {
    if (np == 0) {
      lo[g] = hi[g] = _mm512_setzero_pd();
      continue;
    }
    const uint16_t* kg = k[g];
    const __m512 part = ggml_f16_simd_part16(
        [&](int d) __attribute__((target("avx512f,f16c"))) {
          return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kg + size_t(d) * stride)));
        },
        qh, np);
    lo[g] = _mm512_cvtps_pd(_mm512_castps512_ps256(part));
    hi[g] = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(part), 1)));
  }
  for (int j = np; j < hd; j++) {
    const __m512 qj = _mm512_set1_ps(qh[j]);
    for (int g = 0; g < NG; g++) {
      const __m512 prod = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k[g] + size_t(j) * stride))), qj);
      lo[g] = _mm512_add_pd(lo[g], _mm512_cvtps_pd(_mm512_castps512_ps256(prod)));
      hi[g] = _mm512_add_pd(hi[g], _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(prod), 1))));
    }
  }
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int g = 0; g < NG; g++) {
    _mm256_storeu_ps(s + 16 * g, _mm256_mul_ps(_mm512_cvtpd_ps(lo[g]), vscale));
    _mm256_storeu_ps(s + 16 * g + 8, _mm256_mul_ps(_mm512_cvtpd_ps(hi[g]), vscale));
  }
}

// Scores of every group of G positions, NG groups at a time, then one at a time. Groups start at multiples of G
// and the block size is a multiple of G, so a group never leaves its block.
template <int G, int NG, void (*Many)(const uint16_t* const*, int, const float*, int, float, float*),
          void (*One)(const uint16_t* const*, int, const float*, int, float, float*)>
void scores_f16_grouped(const HeadAttention& a, const Rows& rows, const void* q, float* s) {
  const auto* qh = static_cast<const float*>(q);
  const int stride = a.kv->k_dim_stride(), n = a.n_ctx;
  const uint16_t* k[NG];
  int p = 0;
  for (; p + NG * G <= n; p += NG * G) {
    for (int q = p + NG * G; q < std::min(n, p + 2 * NG * G); q += G) prefetch_k_group(rows.k[q], stride, a.head_dim);
    for (int g = 0; g < NG; g++) k[g] = reinterpret_cast<const uint16_t*>(rows.k[p + g * G]);
    Many(k, stride, qh, a.head_dim, a.scale, s + p);
  }
  for (; p + G <= n; p += G) {
    k[0] = reinterpret_cast<const uint16_t*>(rows.k[p]);
    One(k, stride, qh, a.head_dim, a.scale, s + p);
  }
  if (p < n) {  // the last positions: their group's other slots are in the same block (unused), so compute all G
    alignas(64) float tail[G];
    k[0] = reinterpret_cast<const uint16_t*>(rows.k[p]);
    One(k, stride, qh, a.head_dim, a.scale, tail);
    for (int i = 0; p + i < n; i++) s[p + i] = tail[i];
  }
}

void scores_f16_avx(const HeadAttention& a, const Rows& rows, const void* q, float* s, int) {
  if (a.kv->k_dim_stride() % 8 != 0) return scores_f16_portable(a, rows, q, s, 0);
  scores_f16_grouped<8, 4, scores_f16_groups8<4>, scores_f16_groups8<1>>(a, rows, q, s);
}

void scores_f16_avx512(const HeadAttention& a, const Rows& rows, const void* q, float* s, int) {
  if (a.kv->k_dim_stride() % 16 != 0) return scores_f16_avx(a, rows, q, s, 0);
  scores_f16_grouped<16, 4, scores_f16_groups16<4>, scores_f16_groups16<1>>(a, rows, q, s);
}

// Scores of NQ queries against one K block of 16 positions already converted to double (kd[16j .. 16j+15]: the
// 16 positions of dimension j): per query and position the products f16(k)·f16(q), exact in double, added in
// dimension order by fused multiply-adds (exact product, one rounding: dot_f16_ggml's double part, so heads smaller than 64 only). A prompt's
// queries share their K, so each K value is converted once per tile of queries instead of once per query.
template <int NQ>
__attribute__((target("avx512f"))) void tile_scores_block(const double* kd, int hd, const double* const* qd, float scale, float* const* s) {
  __m512d lo[NQ], hi[NQ];
  for (int t = 0; t < NQ; t++) lo[t] = hi[t] = _mm512_setzero_pd();
  for (int j = 0; j < hd; j++) {
    for (int t = 0; t < NQ; t++) {
      const __m512d qj = _mm512_set1_pd(qd[t][j]);
      lo[t] = _mm512_fmadd_pd(_mm512_loadu_pd(kd + 16 * j), qj, lo[t]);
      hi[t] = _mm512_fmadd_pd(_mm512_loadu_pd(kd + 16 * j + 8), qj, hi[t]);
    }
  }
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int t = 0; t < NQ; t++) {
    _mm256_storeu_ps(s[t], _mm256_mul_ps(_mm512_cvtpd_ps(lo[t]), vscale));
    _mm256_storeu_ps(s[t] + 8, _mm256_mul_ps(_mm512_cvtpd_ps(hi[t]), vscale));
  }
}

// The hd dimensions of 16 positions of a transposed f16 K block (dimension j at k + j·stride) as doubles.
__attribute__((target("avx512f,f16c"))) void k_block_to_double(const uint16_t* k, int stride, int hd, double* kd) {
  for (int j = 0; j < hd; j++) {
    const __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + size_t(j) * stride)));
    _mm512_storeu_pd(kd + 16 * j, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    _mm512_storeu_pd(kd + 16 * j + 8, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
}

// Scores of queries [t0, count) for the 16 positions from p0: s[t] + p0 receives query t's.
void tile_scores(const double* kd, int hd, const double* const* qd, float scale, float* const* s, int t0, int count, int p0) {
  float* dst[4];
  for (int t = t0; t < count;) {
    const int nq = std::min(4, count - t);
    for (int i = 0; i < nq; i++) dst[i] = s[t + i] + p0;
    switch (nq) {
      case 4: tile_scores_block<4>(kd, hd, qd + t, scale, dst); break;
      case 3: tile_scores_block<3>(kd, hd, qd + t, scale, dst); break;
      case 2: tile_scores_block<2>(kd, hd, qd + t, scale, dst); break;
      default: tile_scores_block<1>(kd, hd, qd + t, scale, dst); break;
    }
    t += nq;
  }
}
#endif

void scores_f32_portable(const HeadAttention& a, const Rows& rows, const void* q, float* s, int) {
  const auto* qf = static_cast<const float*>(q);
  for (int p = 0; p < a.n_ctx; p++) {
    const auto* k = reinterpret_cast<const float*>(rows.k[p]);
    float dot = 0;
    for (int j = 0; j < a.head_dim; j++) dot += k[j] * qf[j];
    s[p] = dot * a.scale;
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void scores_f32_avx2(const HeadAttention& a, const Rows& rows, const void* q, float* s, int) {
  const auto* qf = static_cast<const float*>(q);
  const int hd = a.head_dim;
  if (hd % 8 != 0) return scores_f32_portable(a, rows, q, s, 0);
  for (int p = 0; p < a.n_ctx; p++) {
    const auto* k = reinterpret_cast<const float*>(rows.k[p]);
    __m256 acc = _mm256_setzero_ps();
    for (int j = 0; j < hd; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(k + j), _mm256_loadu_ps(qf + j), acc);
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    s[p] = _mm_cvtss_f32(x) * a.scale;
  }
}
#endif

// q8_0 K against the query quantized to q8_0 (llama.cpp's vec_dot_q8_0_q8_0): integer sums per block of 32.
void scores_q8_0(const HeadAttention& a, const Rows& rows, const void* q, float* s, int) {
  const auto* qb = static_cast<const block_q8_0*>(q);
  const int nb = a.head_dim / QK8_0;
  for (int p = 0; p < a.n_ctx; p++) {
    const auto* kb = reinterpret_cast<const block_q8_0*>(rows.k[p]);
    float dot = 0;
    for (int b = 0; b < nb; b++) {
      int sum = 0;
      for (int j = 0; j < QK8_0; j++) sum += int(kb[b].qs[j]) * int(qb[b].qs[j]);
      dot += float(sum) * (fp16_lut(kb[b].d) * fp16_lut(qb[b].d));
    }
    s[p] = dot * a.scale;
  }
}

// The softmax denominator's next value, S·ms + vs rounded twice as llama.cpp computes it; the empty asm keeps an
// FMA-enabled caller from fusing the two.
inline float softmax_sum_step(float sum, float ms, float vs) {
  float scaled = sum * ms;
#if defined(__x86_64__)
  asm("" : "+x"(scaled));
#else
  asm("" : "+r"(scaled));
#endif
  return scaled + vs;
}

// ---- output update: out = out * ms + v * vs, for one position -------------------------------------------
// Multiplying by ms = 1 changes nothing, and in the f16 path the accumulator always holds f16 values, so
// rescaling unconditionally is bit-identical to rescaling only when the maximum moved.
// f16 V: llama.cpp's ggml_vec_mad_f16 sends a head of fewer than 64 elements (its AVX-512 step) through its
// scalar loop `y = f16(y + x*v)`, which the prebuilt CPU libraries compile to one fused multiply-add: so the
// product and the sum round once, as std::fma / _mm256_fmadd_ps do here.

void update_f16_portable(float* out, const uint8_t* vrow, int hd, float ms, float vs) {
  const auto* v = reinterpret_cast<const uint16_t*>(vrow);
  for (int j = 0; j < hd; j++) {
    const float scaled = fp16_to_fp32(fp32_to_fp16(out[j] * ms));
    out[j] = fp16_to_fp32(fp32_to_fp16(std::fma(fp16_lut(v[j]), vs, scaled)));
  }
}

#if defined(__x86_64__)
__attribute__((target("avx,fma,f16c"))) void update_f16_avx(float* out, const uint8_t* vrow, int hd, float ms, float vs) {
  const auto* v = reinterpret_cast<const uint16_t*>(vrow);
  const __m256 vms = _mm256_set1_ps(ms), vvs = _mm256_set1_ps(vs);
  int j = 0;
  if (ms == 1.0f) {  // the usual case once the maximum has settled: no rescale, half the dependency chain
    for (; j + 8 <= hd; j += 8) {
      const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + j)));
      const __m256 o = _mm256_fmadd_ps(vv, vvs, _mm256_loadu_ps(out + j));
      _mm256_storeu_ps(out + j, _mm256_cvtph_ps(_mm256_cvtps_ph(o, _MM_FROUND_TO_NEAREST_INT)));
    }
  }
  for (; j + 8 <= hd; j += 8) {
    __m256 o = _mm256_mul_ps(_mm256_loadu_ps(out + j), vms);
    o = _mm256_cvtph_ps(_mm256_cvtps_ph(o, _MM_FROUND_TO_NEAREST_INT));
    const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + j)));
    o = _mm256_fmadd_ps(vv, vvs, o);
    _mm256_storeu_ps(out + j, _mm256_cvtph_ps(_mm256_cvtps_ph(o, _MM_FROUND_TO_NEAREST_INT)));
  }
  if (j < hd) update_f16_portable(out + j, vrow + size_t(j) * 2, hd - j, ms, vs);
}
#endif

#if defined(__x86_64__)

// The whole online-softmax pass over an f16 V with the accumulator held in registers (NV vectors of 8, head size
// 8·NV): the same operations as update_f16_avx (fused multiply-add included) position after position, without storing and reloading the
// accumulator between positions, which put a store-to-load round trip on the chain that every position waits on.
// Returns the softmax denominator; out receives the unnormalized accumulator.
__attribute__((target("avx,fma,f16c"))) inline __m256 round16(__m256 x) {
  return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
}

template <int NV>
__attribute__((target("avx,fma,f16c"))) float softmax_v_f16_avx(const float* ms, const float* vs, const uint8_t* const* v_rows, int n, float* out) {
  __m256 acc[NV];
  for (int i = 0; i < NV; i++) acc[i] = _mm256_setzero_ps();
  float sum = 0.0f;
  for (int p = 0; p < n; p++) {
    sum = softmax_sum_step(sum, ms[p], vs[p]);
    const auto* v = reinterpret_cast<const __m128i*>(v_rows[p]);
    if (ms[p] != 1.0f) {
      const __m256 vms = _mm256_set1_ps(ms[p]);
      for (int i = 0; i < NV; i++) acc[i] = round16(_mm256_mul_ps(acc[i], vms));
    }
    const __m256 vvs = _mm256_set1_ps(vs[p]);
    for (int i = 0; i < NV; i++) acc[i] = round16(_mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(v + i)), vvs, acc[i]));
  }
  for (int i = 0; i < NV; i++) _mm256_storeu_ps(out + 8 * i, acc[i]);
  return sum;
}

// Returns the softmax denominator; out receives the unnormalized accumulator.
using SoftmaxVFn = float (*)(const float*, const float*, const uint8_t* const*, int, float*);

// The register-resident pass for the head sizes it is instantiated for, else null (the caller checked the CPU).
SoftmaxVFn softmax_v_f16_avx_for(int hd) {
  switch (hd) {
    case 32: return softmax_v_f16_avx<4>;
    case 48: return softmax_v_f16_avx<6>;
    case 64: return softmax_v_f16_avx<8>;
    case 80: return softmax_v_f16_avx<10>;
    case 96: return softmax_v_f16_avx<12>;
    case 128: return softmax_v_f16_avx<16>;
    default: return nullptr;
  }
}

// Several heads of one token at once: the same passes as softmax_v_f16_avx for each, interleaved so that their
// per-position dependency chains overlap (one head's chain alone leaves the core mostly waiting), in 16-lane
// vectors (head sizes that are multiples of 16). rescale[p] is set where any head's maximum rises: a head whose
// ms is 1 is then multiplied by 1, which leaves its f16-valued accumulator as it is, so one branch per position
// serves all heads.
__attribute__((target("avx512f,fma,f16c"))) inline __m512 round16_512(__m512 x) {
  return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
}

// The heads' V rows of a position are one run: head h's at v_rows[p] + h·head_bytes (their kv_offsets one head apart).
template <int H, int NV>
__attribute__((target("avx512f,fma,f16c"))) void softmax_v_f16_heads(const float* const* ms, const float* const* vs,
                                                                    const uint8_t* const* v_rows, const uint8_t* rescale, int n,
                                                                    float* const* out, float* sums) {
  constexpr size_t head_bytes = 32 * NV;
  __m512 acc[H][NV];
  float sum[H];
  for (int h = 0; h < H; h++) {
    sum[h] = 0.0f;
    for (int i = 0; i < NV; i++) acc[h][i] = _mm512_setzero_ps();
  }
  for (int p = 0; p < n; p++) {
    if (p + kVPrefetchDistance < n) prefetch_row(v_rows[p + kVPrefetchDistance], H * head_bytes);
    for (int h = 0; h < H; h++) sum[h] = softmax_sum_step(sum[h], ms[h][p], vs[h][p]);
    if (rescale[p])
      for (int h = 0; h < H; h++) {
        const __m512 f = _mm512_set1_ps(ms[h][p]);
        for (int i = 0; i < NV; i++) acc[h][i] = round16_512(_mm512_mul_ps(acc[h][i], f));
      }
    for (int h = 0; h < H; h++) {
      const auto* v = reinterpret_cast<const __m256i*>(v_rows[p] + h * head_bytes);
      const __m512 w = _mm512_set1_ps(vs[h][p]);
      for (int i = 0; i < NV; i++) acc[h][i] = round16_512(_mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(v + i)), w, acc[h][i]));
    }
  }
  for (int h = 0; h < H; h++) {
    for (int i = 0; i < NV; i++) _mm512_storeu_ps(out[h] + 16 * i, acc[h][i]);
    sums[h] = sum[h];
  }
}

// sums receives the heads' softmax denominators, out their unnormalized accumulators.
using SoftmaxHeadsFn = void (*)(const float* const*, const float* const*, const uint8_t* const*, const uint8_t*, int, float* const*, float*);

// Heads per pass for NV vectors per head: as many as keep 24 accumulators or fewer in the 32 registers.
constexpr int max_heads_for(int nv) { return nv <= 3 ? 6 : nv == 4 ? 4 : 2; }

template <int NV, int... Hs>
SoftmaxHeadsFn pick_heads(int heads, std::integer_sequence<int, Hs...>) {
  SoftmaxHeadsFn fn = nullptr;
  ((heads == Hs + 1 ? (fn = softmax_v_f16_heads<Hs + 1, NV>, 0) : 0), ...);
  return fn;
}

template <int NV>
SoftmaxHeadsFn heads_fn(int heads) {
  return pick_heads<NV>(heads, std::make_integer_sequence<int, max_heads_for(NV)>{});
}

// The pass for `heads` heads of size hd, or null if none is instantiated (the caller checked the CPU).
SoftmaxHeadsFn softmax_v_f16_heads_for(int hd, int heads) {
  switch (hd) {
    case 32: return heads_fn<2>(heads);
    case 48: return heads_fn<3>(heads);
    case 64: return heads_fn<4>(heads);
    case 128: return heads_fn<8>(heads);
    default: return nullptr;
  }
}
#endif

void update_f32(float* out, const uint8_t* vrow, int hd, float ms, float vs) {
  const auto* v = reinterpret_cast<const float*>(vrow);
  for (int j = 0; j < hd; j++) out[j] = out[j] * ms + v[j] * vs;
}

void update_q8_0(float* out, const uint8_t* vrow, int hd, float ms, float vs) {
  const auto* vb = reinterpret_cast<const block_q8_0*>(vrow);
  for (int b = 0; b < hd / QK8_0; b++) {
    const float d = fp16_lut(vb[b].d);
    for (int j = 0; j < QK8_0; j++) {
      float& o = out[b * QK8_0 + j];
      o = o * ms + float(vb[b].qs[j]) * d * vs;
    }
  }
}

using ScoresFn = void (*)(const HeadAttention&, const Rows&, const void*, float*, int);
using UpdateFn = void (*)(float*, const uint8_t*, int, float, float);

struct Kernels {
  ScoresFn scores_f16 = scores_f16_portable, scores_f32 = scores_f32_portable;
  UpdateFn update_f16 = update_f16_portable;
  bool avx_fma_f16c = false;      // softmax_v_f16_avx runs
  bool avx512_fma_f16c = false;  // softmax_v_f16_heads runs
};

const Kernels kernels = [] {
  Kernels k;
#if defined(__x86_64__)
  const CpuFeatures& f = cpu_features();
  if (f.avx && f.fma && f.f16c) k.scores_f16 = scores_f16_avx;
  if (f.avx512f && f.f16c) k.scores_f16 = scores_f16_avx512;
  if (f.avx && f.fma && f.f16c) {
    k.update_f16 = update_f16_avx;
    k.avx_fma_f16c = true;
    k.avx512_fma_f16c = f.avx512f && f.avx512dq;
  }
  if (f.avx2 && f.fma) k.scores_f32 = scores_f32_avx2;
#endif
  return k;
}();

// Exponent arguments and raise marks (softmax_factors) for positions [from, n), continuing from running maximum m.
void softmax_arguments_scalar(const float* s, int from, int n, float m, float* ms, float* vs) {
  for (int p = from; p < n; p++) {
    const float sp = s[p];
    const bool raises = sp > m;
    vs[p] = raises ? m - sp : sp - m;
    ms[p] = raises ? 0.0f : 1.0f;  // marks the positions that raise the maximum until the exponents are in
    m = raises ? sp : m;
  }
}

#if defined(__x86_64__)
// The same for 16 positions at a time: the maximum before each position is a prefix maximum within the vector
// (lanes shifted up by 1, 2, 4, 8) joined with the maximum carried from the positions before. A NaN score never
// raises the maximum, so it enters the scan as -inf. Which of two equal maxima (+0, -0) the scan keeps changes
// nothing: every use subtracts it from a score or compares with it.
__attribute__((target("avx512f"))) void softmax_arguments_avx512(const float* s, int n, float* ms, float* vs) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 carry = ninf;
  int p = 0;
  for (; p + 16 <= n; p += 16) {
    const __m512 x = _mm512_loadu_ps(s + p);
    __m512 m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x, ninf);
    m = _mm512_max_ps(m, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(m), _mm512_castps_si512(ninf), 15)));
    m = _mm512_max_ps(m, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(m), _mm512_castps_si512(ninf), 14)));
    m = _mm512_max_ps(m, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(m), _mm512_castps_si512(ninf), 12)));
    m = _mm512_max_ps(m, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(m), _mm512_castps_si512(ninf), 8)));
    m = _mm512_max_ps(m, carry);  // the maximum up to and including each position
    const __m512 before = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(m), _mm512_castps_si512(carry), 15));
    const __mmask16 raises = _mm512_cmp_ps_mask(x, before, _CMP_GT_OQ);
    _mm512_storeu_ps(vs + p, _mm512_mask_blend_ps(raises, _mm512_sub_ps(x, before), _mm512_sub_ps(before, x)));
    _mm512_storeu_ps(ms + p, _mm512_mask_blend_ps(raises, _mm512_set1_ps(1.0f), _mm512_setzero_ps()));
    carry = _mm512_permutexvar_ps(_mm512_set1_epi32(15), m);
  }
  softmax_arguments_scalar(s, p, n, _mm512_cvtss_f32(carry), ms, vs);
}
#endif

void softmax_arguments(const float* s, int n, float* ms, float* vs) {
#if defined(__x86_64__)
  if (kernels.avx512_fma_f16c) return softmax_arguments_avx512(s, n, ms, vs);
#endif
  softmax_arguments_scalar(s, 0, n, -INFINITY, ms, vs);
}

// The online softmax in llama.cpp's order: with M the running maximum before position p, a score above it raises
// it and rescales what was accumulated by ms = exp(M - score) (and weighs V row p by vs = 1); any other score
// weighs its V row by vs = exp(score - M) (and ms = 1). Both exponents are smaller minus larger, so all of them
// are computed in one vectorized pass (the C library's expf, bit for bit) after a pass that finds the maxima.
// The factors are ready before the V pass, which then makes no calls (a call would force its vector
// accumulators out of registers at every position).
void softmax_factors(const float* s, int n, float* ms, float* vs) {
  softmax_arguments(s, n, ms, vs);
  expf_libm_row(vs, vs, n);
  for (int p = 0; p < n; p++) {
    const bool raises = ms[p] == 0.0f;
    ms[p] = raises ? vs[p] : 1.0f;
    vs[p] = raises ? 1.0f : vs[p];
  }
}

}  // namespace

namespace {

// Per-thread scratch of one head: its scores, softmax factors and gathered K/V row pointers, grown as contexts grow.
struct HeadScratch {
  std::vector<float> s, ms, vs;
  std::vector<const uint8_t*> k, v;
  void reserve(int n) {
    if (s.size() >= size_t(n)) return;
    for (auto* x : {&s, &ms, &vs}) x->resize(size_t(n) * 2);
    for (auto* x : {&k, &v}) x->resize(size_t(n) * 2);
  }
};

// The first position a query with n_ctx positions of context attends (a sliding window leaves its last `window`).
int first_attended(int n_ctx, int window) { return window > 0 ? std::max(0, n_ctx - window) : 0; }

// The head with its context cut to the blocks from the one holding position `first` on (the block-wise K reads
// stay aligned to blocks); the caller skips the first - (that block's start) positions of the view.
HeadAttention from_block_of(const HeadAttention& a, int first, int& skip) {
  const int b0 = first / a.kv->block_size();
  HeadAttention v = a;
  v.block_table += b0;
  v.n_ctx -= b0 * a.kv->block_size();
  skip = first - b0 * a.kv->block_size();
  return v;
}

// Soft-capped scores, as llama.cpp's flash attention caps each one (its scale was divided by the cap).
void cap_scores(const HeadAttention& a, float* s, int n) {
  if (a.softcap == 0) return;
  for (int p = 0; p < n; p++) s[p] = a.softcap * std::tanh(s[p]);
}

// Bytes from a slot's first K element to the head's (a transposed K skips whole dimensions).
size_t k_head_offset(const HeadAttention& a) { return a.kv->bytes_for(a.kv_offset) * size_t(a.kv->k_dim_stride()); }

// Where each position's K and V rows of the head start, walking the block table once. A window table's dropped
// blocks (-1: wholly before the window, freed) are read as the window's first block: only the batch arithmetic's
// 64-position tiles reach such positions, and they mask them (weight 0 times finite K/V changes nothing).
Rows gather_rows(const HeadAttention& a, std::vector<const uint8_t*>& k_rows, std::vector<const uint8_t*>& v_rows) {
  const int n = a.n_ctx, bs = a.kv->block_size();
  const size_t v_off = a.kv->bytes_for(a.kv_offset), k_off = k_head_offset(a);
  const size_t k_step = a.kv->k_slot_stride(), v_step = a.kv->v_slot_stride();
  const int32_t live = a.block_table[first_attended(n, a.window) / bs];
  for (int p0 = 0, i = 0; p0 < n; p0 += bs, i++) {
    const int32_t block = a.block_table[i] >= 0 ? a.block_table[i] : live;
    const uint8_t* k = a.kv->k_row(a.layer, block, 0) + k_off;
    const uint8_t* v = a.kv->v_row(a.layer, block, 0) + v_off;
    const int end = std::min(bs, n - p0);
    for (int slot = 0; slot < end; slot++) {
      k_rows[size_t(p0 + slot)] = k + size_t(slot) * k_step;
      v_rows[size_t(p0 + slot)] = v + size_t(slot) * v_step;
    }
  }
  return {k_rows.data(), v_rows.data()};
}

// Bytes from the first head's K rows to another head's of the same token (a fixed distance in every slot).
ptrdiff_t k_head_distance(const HeadAttention& first, const HeadAttention& head) {
  return ptrdiff_t(k_head_offset(head)) - ptrdiff_t(k_head_offset(first));
}

// The query as the f16 K dot products take it: each element rounded to f16 (held as float or double).
template <typename T>
void f16_rounded_query(const float* q, int hd, T* out) {
  uint16_t half[kMaxHeadDim];
  fp32_to_fp16_row(q, half, hd);
  for (int j = 0; j < hd; j++) out[j] = T(fp16_lut(half[j]));
}

// s[p] = q·k_p · scale in the arithmetic of the pool's type; returns the matching V update.
UpdateFn compute_scores(const HeadAttention& a, const Rows& rows, const float* q, float* s) {
  const int hd = a.head_dim;
  // The query in the form the K dot products take: f16-rounded, q8_0 blocks, or as is.
  alignas(32) float qh[kMaxHeadDim];
  block_q8_0 qq[kMaxHeadDim / QK8_0];
  switch (a.kv->type()) {
    case KvType::F16:
      f16_rounded_query(q, hd, qh);
      kernels.scores_f16(a, rows, qh, s, 0);
      return kernels.update_f16;
    case KvType::F32:
      kernels.scores_f32(a, rows, q, s, 0);
      return update_f32;
    case KvType::Q8_0:
    default:
      quantize_q8_0(q, qq, hd);
      scores_q8_0(a, rows, qq, s, 0);
      return update_q8_0;
  }
}

void normalize(float* out, int hd, float total) {
  const float inv = total > 0 ? 1.0f / total : 0.0f;
  for (int j = 0; j < hd; j++) out[j] *= inv;
}

#if defined(__x86_64__)
// The multi-head f16 pass for these heads, or null where it does not apply: it needs AVX-512, an f16 pool and
// adjacent heads of one token (the same context, block table and head size).
SoftmaxHeadsFn heads_pass(const HeadAttention* heads, int n_heads) {
  if (!kernels.avx512_fma_f16c || heads[0].kv->type() != KvType::F16 || heads[0].batch_arithmetic) return nullptr;
  for (int h = 1; h < n_heads; h++)
    if (heads[h].n_ctx != heads[0].n_ctx || heads[h].block_table != heads[0].block_table || heads[h].head_dim != heads[0].head_dim ||
        heads[h].kv_offset != heads[0].kv_offset + h * heads[0].head_dim)
      return nullptr;
  return softmax_v_f16_heads_for(heads[0].head_dim, n_heads);
}

// Softmax and V pass of heads whose scores s[h] over n positions are ready: out[h] = the normalized output.
// v_rows: the first head's V rows (the others follow them, heads_pass).
void softmax_v_heads(SoftmaxHeadsFn pass, int n_heads, int hd, float* const* s, int n, float* const* ms, float* const* vs,
                     const uint8_t* const* v_rows, float* const* out) {
  thread_local std::vector<uint8_t> rescale;
  rescale.assign(size_t(n), 0);
  for (int h = 0; h < n_heads; h++) softmax_factors(s[h], n, ms[h], vs[h]);
  uint8_t* any = rescale.data();
  for (int h = 0; h < n_heads; h++)
    for (int p = 0; p < n; p++) any[p] |= ms[h][p] != 1.0f;
  float sums[kMaxHeadGroup];
  pass(ms, vs, v_rows, rescale.data(), n, out, sums);
  for (int h = 0; h < n_heads; h++) normalize(out[h], hd, sums[h]);
}
#endif

// ---- llama.cpp's batch arithmetic ------------------------------------------------------------------------
// For each 64-position tile of the context: the tile's scores (f32 fused multiply-add chains over the head's
// dimensions, then times the scale), the running maximum raised to the tile's (rescaling the f32 accumulator
// and the sum by libm's expf of the difference when it rises), the weights by ggml's vectorized expf (its
// ggml_v_expf for 16 lanes), their sum added in double per 16 lanes (summed as _mm512_reduce_add_ps pairs them),
// and V accumulated by fused multiply-adds position after position. The portable path computes the same
// operations one lane at a time.

// ggml_v_expf's constants: exp(x) = 2^n · p(b), n = round(x·log2 e) by the rounding constant, b = x - n·ln 2 in
// two parts, p a degree-5 polynomial; |n| > 192 gives 0 or infinity.
namespace ggml_expf {
constexpr float kRound = 0x1.8p23f, kLog2e = 0x1.715476p+0f, kLn2Hi = 0x1.62e4p-1f, kLn2Lo = 0x1.7f7d1cp-20f;
constexpr float kC1 = 0x1.ffffecp-1f, kC2 = 0x1.fffdb6p-2f, kC3 = 0x1.555e66p-3f, kC4 = 0x1.573e2ep-5f, kC5 = 0x1.0e4020p-7f;
constexpr float kLimit = 192;
}  // namespace ggml_expf

// ggml_v_expf on one lane.
float ggml_expf_lane(float x) {
  using namespace ggml_expf;
  const float n = std::fma(x, kLog2e, kRound) - kRound;
  const float b = std::fma(-n, kLn2Lo, std::fma(-n, kLn2Hi, x));
  if (std::fabs(n) > kLimit) return n <= 0 ? 0.0f : INFINITY;
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(kC5, b, kC4), u, std::fma(kC3, b, kC2)), u, std::fma(kC1, b, 1.0f));
  return std::ldexp(j, int(n));
}

constexpr int kBatchTile = 64;  // llama.cpp's GGML_FA_TILE_KV

// Whether the batch arithmetic applies to this head: llama.cpp's tiled path takes f16 or f32 K/V and head sizes
// that are a multiple of its 16-lane vectors (else it computes the token's way, as here).
bool batch_arithmetic_applies(const HeadAttention& a) {
  return a.batch_arithmetic && a.head_dim % 16 == 0 && (a.kv->type() == KvType::F16 || a.kv->type() == KvType::F32);
}

#if defined(__x86_64__)
// ggml_v_expf on 16 lanes.
__attribute__((target("avx512f,avx512dq,fma"))) inline __m512 ggml_expf16(__m512 x) {
  using namespace ggml_expf;
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(kLog2e), _mm512_set1_ps(kRound)), _mm512_set1_ps(kRound));
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x));
  const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(kLimit), _CMP_GT_OQ);
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 j = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(kC5), b, _mm512_set1_ps(kC4)), u, _mm512_fmadd_ps(_mm512_set1_ps(kC3), b, _mm512_set1_ps(kC2))), u,
                                   _mm512_fmadd_ps(_mm512_set1_ps(kC1), b, _mm512_set1_ps(1.0f)));
  const __m512 res = _mm512_scalef_ps(j, n);
  if (_mm512_kortestz(big, big)) return res;
  const __m512 limit = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ), _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(big, res, limit);
}

__attribute__((target("avx512f,avx512dq,fma"))) void batch_weights_avx512(float* e, float max, double* sum) {
  for (int g = 0; g < kBatchTile / 16; g++) {
    const __m512 w = ggml_expf16(_mm512_sub_ps(_mm512_loadu_ps(e + 16 * g), _mm512_set1_ps(max)));
    _mm512_storeu_ps(e + 16 * g, w);
    *sum += double(_mm512_reduce_add_ps(w));
  }
}

// ggml_v_expf on 8 lanes with AVX and FMA: the lane's operations (fused where it fuses), and its ldexp(j, n) as the
// product j · 2^n, which is the same correctly rounded value while 2^n is a normal float (n in [-126, 127]); a vector
// with a lane outside (exponents of ±87 and beyond, -inf and NaN scores) takes the lane function for every lane.
__attribute__((target("avx,fma"))) inline __m256 ggml_expf8(__m256 x) {
  using namespace ggml_expf;
  const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(kLog2e), _mm256_set1_ps(kRound)), _mm256_set1_ps(kRound));
  const __m256 in_range = _mm256_and_ps(_mm256_cmp_ps(n, _mm256_set1_ps(-126), _CMP_GE_OQ), _mm256_cmp_ps(n, _mm256_set1_ps(127), _CMP_LE_OQ));
  if (_mm256_movemask_ps(in_range) != 0xFF) {
    alignas(32) float v[8];
    _mm256_store_ps(v, x);
    for (float& f : v) f = ggml_expf_lane(f);
    return _mm256_load_ps(v);
  }
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(kC5), b, _mm256_set1_ps(kC4)), u, _mm256_fmadd_ps(_mm256_set1_ps(kC3), b, _mm256_set1_ps(kC2))), u,
                                   _mm256_fmadd_ps(_mm256_set1_ps(kC1), b, _mm256_set1_ps(1.0f)));
  // 2^n's bits, (n + 127) << 23, on 128-bit halves (AVX has no 256-bit integer ops).
  const __m256i e = _mm256_cvttps_epi32(n);
  const auto pow2 = [](__m128i h) { return _mm_slli_epi32(_mm_add_epi32(h, _mm_set1_epi32(127)), 23); };
  const __m256i p = _mm256_insertf128_si256(_mm256_castsi128_si256(pow2(_mm256_castsi256_si128(e))), pow2(_mm256_extractf128_si256(e, 1)), 1);
  return _mm256_mul_ps(j, _mm256_castsi256_ps(p));
}

__attribute__((target("avx,fma"))) void batch_weights_avx(float* e, float max, double* sum) {
  for (int g = 0; g < kBatchTile / 16; g++) {
    for (int h = 0; h < 2; h++) _mm256_storeu_ps(e + 16 * g + 8 * h, ggml_expf8(_mm256_sub_ps(_mm256_loadu_ps(e + 16 * g + 8 * h), _mm256_set1_ps(max))));
    *sum += double(reduce_add16(e + 16 * g));
  }
}

#endif

// A tile's scores as llama.cpp's tiled path finishes them: soft-capped (tanhf, then times the cap), then the mask:
// positions before `first` (the sliding window's first) to -inf. Tiles wholly before it are not visited at all:
// their weights would be zeros either way.
inline void batch_tile_cap_and_mask(const HeadAttention& a, float* e, int t0, int valid, int first) {
  if (a.softcap != 0)
    for (int j = 0; j < valid; j++) e[j] = std::tanh(e[j]) * a.softcap;
  for (int j = 0; j < valid && t0 + j < first; j++) e[j] = -INFINITY;
}

enum class ExpLanes { kLane, kAvx, kAvx512 };  // which ggml_v_expf computes a tile's weights (same bits)

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512dq,fma"))) void expf16_lanes(const float* x, float* y) { _mm512_storeu_ps(y, ggml_expf16(_mm512_loadu_ps(x))); }
__attribute__((target("avx,fma"))) void expf8_lanes(const float* x, float* y) {
  for (int h = 0; h < 2; h++) _mm256_storeu_ps(y + 8 * h, ggml_expf8(_mm256_loadu_ps(x + 8 * h)));
}


// The largest of a tile's 64 scores, NaNs skipped (as std::max(max, e[j]) in order skips them), in lanes: the
// scalar loop was one chain of 64 dependent maxss, ~60% of the AVX2 tile path's own time outside the kernels. The
// order can only change the sign of a zero maximum, which no result sees (e - ±0 and exp(M - m) with M, m zeros
// give the same weights and factors).
__attribute__((target("avx"))) float tile_max_avx(const float* e) {
  __m256 m[2] = {_mm256_set1_ps(-INFINITY), _mm256_set1_ps(-INFINITY)};
  // max_ps(x, m) returns m when x is NaN.
  for (int j = 0; j < kBatchTile; j += 16)
    for (int h = 0; h < 2; h++) m[h] = _mm256_max_ps(_mm256_loadu_ps(e + j + 8 * h), m[h]);
  const __m256 m8 = _mm256_max_ps(m[0], m[1]);
  const __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  const __m128 m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  return _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)));
}
#endif

// The online-softmax bookkeeping for one tile whose scores e[0..63] are ready (-inf past the context): returns the
// factor the accumulator must be multiplied by first (1 if none) and leaves the weights in e.
inline float batch_tile_softmax(float* e, float& M, float& S, ExpLanes lanes) {
  float tile_max = -INFINITY;
#if defined(__x86_64__)
  if (lanes != ExpLanes::kLane) tile_max = tile_max_avx(e);
  else
#endif
    for (int j = 0; j < kBatchTile; j++) tile_max = std::max(tile_max, e[j]);
  if (tile_max == -INFINITY) {  // nothing to attend in this tile (llama.cpp skips the row)
    for (int j = 0; j < kBatchTile; j++) e[j] = 0.0f;
    return 1.0f;
  }
  const float m_new = std::fmax(M, tile_max);
  float ms = 1.0f;
  if (m_new > M) {
    ms = std::exp(M - m_new);
    S *= ms;
  }
  M = m_new;
  double sum = 0;
#if defined(__x86_64__)
  if (lanes != ExpLanes::kLane) {
    if (lanes == ExpLanes::kAvx512) batch_weights_avx512(e, m_new, &sum);
    else batch_weights_avx(e, m_new, &sum);
    S = float(double(S) + sum);
    return ms;
  }
#else
  (void)lanes;
#endif
  for (int g = 0; g < kBatchTile / 16; g++) {
    for (int j = 16 * g; j < 16 * g + 16; j++) e[j] = ggml_expf_lane(e[j] - m_new);
    sum += double(reduce_add16(e + 16 * g));
  }
  S = float(double(S) + sum);
  return ms;
}

void attend_batch_portable(const HeadAttention& a, const Rows& rows, const float* q, float* out) {
  const int hd = a.head_dim, n = a.n_ctx;
  const bool f16 = a.kv->type() == KvType::F16;
  const int stride = a.kv->k_dim_stride();
  float acc[kMaxHeadDim] = {};
  float M = -INFINITY, S = 0.0f;
  float e[kBatchTile];
  const int first = first_attended(n, a.window);
  for (int t0 = first / kBatchTile * kBatchTile; t0 < n; t0 += kBatchTile) {
    const int valid = std::min(kBatchTile, n - t0);
    for (int j = 0; j < kBatchTile; j++) {
      if (j >= valid) { e[j] = -INFINITY; continue; }
      float dot = 0.0f;
      for (int d = 0; d < hd; d++) {
        const float k = f16 ? fp16_lut(reinterpret_cast<const uint16_t*>(rows.k[t0 + j])[size_t(d) * stride])
                            : reinterpret_cast<const float*>(rows.k[t0 + j])[d];
        dot = std::fma(k, q[d], dot);
      }
      e[j] = dot * a.scale;
    }
    batch_tile_cap_and_mask(a, e, t0, valid, first);
    const float ms = batch_tile_softmax(e, M, S, ExpLanes::kLane);
    if (ms != 1.0f) for (int d = 0; d < hd; d++) acc[d] *= ms;
    for (int j = 0; j < valid; j++)
      for (int d = 0; d < hd; d++) {
        const float v = f16 ? fp16_lut(reinterpret_cast<const uint16_t*>(rows.v[t0 + j])[d]) : reinterpret_cast<const float*>(rows.v[t0 + j])[d];
        acc[d] = std::fma(v, e[j], acc[d]);
      }
  }
  const float inv = S == 0.0f ? 0.0f : 1.0f / S;
  for (int d = 0; d < hd; d++) out[d] = acc[d] * inv;
}

#if defined(__x86_64__)
// f16 K stored transposed (16 positions of a dimension in one vector): scores of a tile 16 positions at a time.
__attribute__((target("avx512f,avx512dq,fma,f16c"))) void attend_batch_avx512(const HeadAttention& a, const Rows& rows, const float* q, float* out) {
  const int hd = a.head_dim, n = a.n_ctx, nv = hd / 16, stride = a.kv->k_dim_stride();
  __m512 acc[kMaxHeadDim / 16];
  for (int i = 0; i < nv; i++) acc[i] = _mm512_setzero_ps();
  float M = -INFINITY, S = 0.0f;
  alignas(64) float e[kBatchTile];
  const int first = first_attended(n, a.window);
  for (int t0 = first / kBatchTile * kBatchTile; t0 < n; t0 += kBatchTile) {
    const int valid = std::min(kBatchTile, n - t0);
    for (int g = 0; g < kBatchTile / 16; g++) {
      __m512 dot = _mm512_setzero_ps();
      if (16 * g < valid) {
        const auto* k = reinterpret_cast<const uint16_t*>(rows.k[t0 + 16 * g]);
        for (int d = 0; d < hd; d++)
          dot = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + size_t(d) * stride))), _mm512_set1_ps(q[d]), dot);
      }
      _mm512_storeu_ps(e + 16 * g, _mm512_mul_ps(dot, _mm512_set1_ps(a.scale)));
    }
    for (int j = valid; j < kBatchTile; j++) e[j] = -INFINITY;
    batch_tile_cap_and_mask(a, e, t0, valid, first);
    const float ms = batch_tile_softmax(e, M, S, ExpLanes::kAvx512);
    if (ms != 1.0f) for (int i = 0; i < nv; i++) acc[i] = _mm512_mul_ps(acc[i], _mm512_set1_ps(ms));
    for (int j = 0; j < valid; j++) {
      if (j + kVPrefetchDistance < valid) prefetch_row(rows.v[t0 + j + kVPrefetchDistance], size_t(hd) * 2);
      const auto* v = reinterpret_cast<const __m256i*>(rows.v[t0 + j]);
      const __m512 w = _mm512_set1_ps(e[j]);
      for (int i = 0; i < nv; i++) acc[i] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(v + i)), w, acc[i]);
    }
  }
  const __m512 inv = _mm512_set1_ps(S == 0.0f ? 0.0f : 1.0f / S);
  for (int i = 0; i < nv; i++) _mm512_storeu_ps(out + 16 * i, _mm512_mul_ps(acc[i], inv));
}
#endif

#if defined(__x86_64__)
// attend_batch_portable's operations 8 lanes at a time (AVX with FMA and F16C: no AVX-512): the scores of 8
// positions of f16 K stored transposed (attend_batch_avx512's 16-slot groups, as two halves), V accumulated 8
// dimensions at a time. Every lane's chain of fused multiply-adds, products and the softmax between them is the
// portable one's, so are the bits; the portable loops called libm's fmaf per product (a fifth of a Llama-1B
// pp128 step on a CPU without AVX-512).
__attribute__((target("avx,f16c"), always_inline)) inline __m256 half8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

__attribute__((target("avx,fma,f16c"))) void attend_batch_avx(const HeadAttention& a, const Rows& rows, const float* q, float* out) {
  const int hd = a.head_dim, n = a.n_ctx, nv = hd / 8, stride = a.kv->k_dim_stride();
  __m256 acc[kMaxHeadDim / 8];
  for (int i = 0; i < nv; i++) acc[i] = _mm256_setzero_ps();
  float M = -INFINITY, S = 0.0f;
  alignas(32) float e[kBatchTile];
  const int first = first_attended(n, a.window);
  const __m256 scale = _mm256_set1_ps(a.scale);
  for (int t0 = first / kBatchTile * kBatchTile; t0 < n; t0 += kBatchTile) {
    const int valid = std::min(kBatchTile, n - t0);
    for (int g = 0; g < kBatchTile / 16; g++) {
      __m256 dot[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
      if (16 * g < valid) {
        const auto* k = reinterpret_cast<const uint16_t*>(rows.k[t0 + 16 * g]);
        for (int d = 0; d < hd; d++) {
          const __m256 qd = _mm256_set1_ps(q[d]);
          for (int h = 0; h < 2; h++) dot[h] = _mm256_fmadd_ps(half8(k + size_t(d) * stride + 8 * h), qd, dot[h]);
        }
      }
      for (int h = 0; h < 2; h++) _mm256_storeu_ps(e + 16 * g + 8 * h, _mm256_mul_ps(dot[h], scale));
    }
    for (int j = valid; j < kBatchTile; j++) e[j] = -INFINITY;
    batch_tile_cap_and_mask(a, e, t0, valid, first);
    const float ms = batch_tile_softmax(e, M, S, ExpLanes::kAvx);
    if (ms != 1.0f) for (int i = 0; i < nv; i++) acc[i] = _mm256_mul_ps(acc[i], _mm256_set1_ps(ms));
    for (int j = 0; j < valid; j++) {
      if (j + kVPrefetchDistance < valid) prefetch_row(rows.v[t0 + j + kVPrefetchDistance], size_t(hd) * 2);
      const auto* v = reinterpret_cast<const uint16_t*>(rows.v[t0 + j]);
      const __m256 w = _mm256_set1_ps(e[j]);
      for (int i = 0; i < nv; i++) acc[i] = _mm256_fmadd_ps(half8(v + 8 * i), w, acc[i]);
    }
  }
  const __m256 inv = _mm256_set1_ps(S == 0.0f ? 0.0f : 1.0f / S);
  for (int i = 0; i < nv; i++) _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(acc[i], inv));
}
#endif

// One head of one query in the batch arithmetic.
void attend_batch(const HeadAttention& a, const float* q, float* out) {
  thread_local HeadScratch sc;
  sc.reserve(a.n_ctx);
  const Rows rows = gather_rows(a, sc.k, sc.v);
#if defined(__x86_64__)
  if (a.kv->type() == KvType::F16 && a.kv->k_dim_stride() % 16 == 0) {
    if (kernels.avx512_fma_f16c) return attend_batch_avx512(a, rows, q, out);
    if (kernels.avx_fma_f16c) return attend_batch_avx(a, rows, q, out);
  }
#endif
  attend_batch_portable(a, rows, q, out);
}

#if defined(__x86_64__)
// ---- several queries and heads of one tile in the batch arithmetic ---------------------------------------
// attend_batch_avx512's (or attend_batch_avx's) operations for every (query, head) pair of an attend_tile call,
// tile of 64 positions by tile: each 16-position K group and each V row is converted once for all the pairs that
// read it (the queries of the tile, the heads sharing a KV head under GQA) instead of once per pair. Every pair's
// own chain of operations (its score sums over the dimensions, its online softmax, its V accumulation position
// by position) is the one attend_batch_avx512 / attend_batch_avx runs, so the results are bit-identical.

struct BatchPair {
  const float* q;
  float* out;
  ptrdiff_t dk, dv;  // bytes from the first head's K and V rows to this pair's KV head's
  int kv;            // KV head offset (pairs of one KV head are adjacent)
  int n, first;      // context and the first attended position (sliding window)
  float M, S;
  float* e;          // this tile's scores, then weights
  float* acc;        // the V accumulator
};

// A pair reads the tile at t0 when the tile holds attended positions of its context.
inline bool pair_reads(const BatchPair& p, int t0) { return t0 < p.n && t0 >= p.first / kBatchTile * kBatchTile; }

// Scores of NP pairs (one KV head) for the 16 positions of K at k, stored at e[p] + 16·g.
template <int NP>
__attribute__((target("avx512f,fma,f16c"))) void batch_scores16(const uint16_t* k, int stride, int hd, const BatchPair* const* pairs, float scale, int g) {
  __m512 dot[NP];
  for (int p = 0; p < NP; p++) dot[p] = _mm512_setzero_ps();
  for (int d = 0; d < hd; d++) {
    const __m512 kd = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + size_t(d) * stride)));
    for (int p = 0; p < NP; p++) dot[p] = _mm512_fmadd_ps(kd, _mm512_set1_ps(pairs[p]->q[d]), dot[p]);
  }
  for (int p = 0; p < NP; p++) _mm512_storeu_ps(pairs[p]->e + 16 * g, _mm512_mul_ps(dot[p], _mm512_set1_ps(scale)));
}

// The same with AVX: each 16-position group as two 8-lane halves (attend_batch_avx's).
template <int NP>
__attribute__((target("avx,fma,f16c"))) void batch_scores8(const uint16_t* k, int stride, int hd, const BatchPair* const* pairs, float scale, int g) {
  __m256 dot[NP][2];
  for (int p = 0; p < NP; p++) dot[p][0] = dot[p][1] = _mm256_setzero_ps();
  for (int d = 0; d < hd; d++) {
    const __m256 k0 = half8(k + size_t(d) * stride), k1 = half8(k + size_t(d) * stride + 8);
    for (int p = 0; p < NP; p++) {
      const __m256 qd = _mm256_broadcast_ss(pairs[p]->q + d);
      dot[p][0] = _mm256_fmadd_ps(k0, qd, dot[p][0]);
      dot[p][1] = _mm256_fmadd_ps(k1, qd, dot[p][1]);
    }
  }
  const __m256 s = _mm256_set1_ps(scale);
  for (int p = 0; p < NP; p++)
    for (int h = 0; h < 2; h++) _mm256_storeu_ps(pairs[p]->e + 16 * g + 8 * h, _mm256_mul_ps(dot[p][h], s));
}

using BatchScoresFn = void (*)(const uint16_t*, int, int, const BatchPair* const*, float, int);
constexpr BatchScoresFn kBatchScores16[] = {batch_scores16<1>, batch_scores16<2>, batch_scores16<3>, batch_scores16<4>,
                                            batch_scores16<5>, batch_scores16<6>, batch_scores16<7>, batch_scores16<8>};
// Two accumulators a pair: six pairs leave a register for each K half and the query's broadcast.
constexpr BatchScoresFn kBatchScores8[] = {batch_scores8<1>, batch_scores8<2>, batch_scores8<3>, batch_scores8<4>, batch_scores8<5>, batch_scores8<6>};

// Vectors i0 .. i0+NV-1 of V rows 0..valid-1 (at v[j] + dv) into the accumulators of NP pairs, each first rescaled
// by its factor. (Each dimension's accumulator is its own chain, so a head may be taken in slices of vectors.)
template <int NV, int NP>
__attribute__((target("avx512f,fma,f16c"))) void batch_v_rows16(const uint8_t* const* v, ptrdiff_t dv, int i0, int valid, const BatchPair* const* pairs, const float* ms) {
  __m512 acc[NP][NV];
  dv += ptrdiff_t(i0) * 32;
  for (int p = 0; p < NP; p++) {
    const __m512 f = _mm512_set1_ps(ms[p]);
    for (int i = 0; i < NV; i++) {
      acc[p][i] = _mm512_loadu_ps(pairs[p]->acc + 16 * (i0 + i));
      if (ms[p] != 1.0f) acc[p][i] = _mm512_mul_ps(acc[p][i], f);
    }
  }
  for (int j = 0; j < valid; j++) {
    if (j + kVPrefetchDistance < valid) prefetch_row(v[j + kVPrefetchDistance] + dv, size_t(NV) * 32);
    const auto* row = reinterpret_cast<const __m256i*>(v[j] + dv);
    __m512 vr[NV];
    for (int i = 0; i < NV; i++) vr[i] = _mm512_cvtph_ps(_mm256_loadu_si256(row + i));
    for (int p = 0; p < NP; p++) {
      const __m512 w = _mm512_set1_ps(pairs[p]->e[j]);
      for (int i = 0; i < NV; i++) acc[p][i] = _mm512_fmadd_ps(vr[i], w, acc[p][i]);
    }
  }
  for (int p = 0; p < NP; p++)
    for (int i = 0; i < NV; i++) _mm512_storeu_ps(pairs[p]->acc + 16 * (i0 + i), acc[p][i]);
}

// The same with AVX, 8 dimensions a vector (attend_batch_avx's V step).
template <int NV, int NP>
__attribute__((target("avx,fma,f16c"))) void batch_v_rows8(const uint8_t* const* v, ptrdiff_t dv, int i0, int valid, const BatchPair* const* pairs, const float* ms) {
  __m256 acc[NP][NV];
  dv += ptrdiff_t(i0) * 16;
  for (int p = 0; p < NP; p++) {
    const __m256 f = _mm256_set1_ps(ms[p]);
    for (int i = 0; i < NV; i++) {
      acc[p][i] = _mm256_loadu_ps(pairs[p]->acc + 8 * (i0 + i));
      if (ms[p] != 1.0f) acc[p][i] = _mm256_mul_ps(acc[p][i], f);
    }
  }
  for (int j = 0; j < valid; j++) {
    if (j + kVPrefetchDistance < valid) prefetch_row(v[j + kVPrefetchDistance] + dv, size_t(NV) * 16);
    const auto* row = reinterpret_cast<const uint16_t*>(v[j] + dv);
    __m256 vr[NV];
    for (int i = 0; i < NV; i++) vr[i] = half8(row + 8 * i);
    for (int p = 0; p < NP; p++) {
      const __m256 w = _mm256_broadcast_ss(pairs[p]->e + j);
      for (int i = 0; i < NV; i++) acc[p][i] = _mm256_fmadd_ps(vr[i], w, acc[p][i]);
    }
  }
  for (int p = 0; p < NP; p++)
    for (int i = 0; i < NV; i++) _mm256_storeu_ps(pairs[p]->acc + 8 * (i0 + i), acc[p][i]);
}

using BatchVFn = void (*)(const uint8_t* const*, ptrdiff_t, int, int, const BatchPair* const*, const float*);

// The V pass for n pairs over NV vectors of their heads, n in 1..sizeof...(Ps).
template <template <int, int> class Pass, int NV, int... Ps>
BatchVFn pick_v_pairs(int n, std::integer_sequence<int, Ps...>) {
  BatchVFn fn = nullptr;
  ((n == Ps + 1 ? (fn = Pass<NV, Ps + 1>::run, 0) : 0), ...);
  return fn;
}
template <int NV, int NP> struct VRows16 { static constexpr BatchVFn run = batch_v_rows16<NV, NP>; };
template <int NV, int NP> struct VRows8 { static constexpr BatchVFn run = batch_v_rows8<NV, NP>; };

// AVX-512: slices of up to 8 vectors, 16 accumulators or fewer a pass.
constexpr int max_v_pairs16(int nv) { return std::max(1, 16 / nv); }
BatchVFn batch_v_fn16(int nv, int n) {
  switch (nv) {
#define IR_BATCH_V(NV) \
  case NV: return pick_v_pairs<VRows16, NV>(n, std::make_integer_sequence<int, max_v_pairs16(NV)>{});
    IR_BATCH_V(1) IR_BATCH_V(2) IR_BATCH_V(3) IR_BATCH_V(4) IR_BATCH_V(5) IR_BATCH_V(6) IR_BATCH_V(7) IR_BATCH_V(8)
#undef IR_BATCH_V
    default: return nullptr;
  }
}

// AVX: 16 registers hold a pass's accumulators, its slice of the V row and the weight's broadcast.
constexpr int max_v_pairs8(int nv) { return std::max(1, 10 / nv); }
BatchVFn batch_v_fn8(int nv, int n) {
  switch (nv) {
#define IR_BATCH_V(NV) \
  case NV: return pick_v_pairs<VRows8, NV>(n, std::make_integer_sequence<int, max_v_pairs8(NV)>{});
    IR_BATCH_V(1) IR_BATCH_V(2)
#undef IR_BATCH_V
    default: return nullptr;
  }
}

// The vector kernels attend_batch_tile runs on.
struct BatchTileKernels {
  int lanes;                     // floats per vector
  const BatchScoresFn* scores;   // [n - 1]: the scores of n pairs
  int max_score_pairs;
  BatchVFn (*v_fn)(int nv, int n);
  int max_v_slice;               // vectors of a head one V pass takes
  int (*max_v_pairs)(int nv);    // pairs one V pass takes
  ExpLanes exp;
};
constexpr BatchTileKernels kBatchTile16 = {16, kBatchScores16, 8, batch_v_fn16, 8, [](int nv) { return max_v_pairs16(nv); }, ExpLanes::kAvx512};
constexpr BatchTileKernels kBatchTile8 = {8, kBatchScores8, 6, batch_v_fn8, 2, [](int nv) { return max_v_pairs8(nv); }, ExpLanes::kAvx};

// The kernels attend_batch_tile takes these heads with, or null: attend_batch's vector conditions (an f16 pool,
// K in 16-slot groups).
const BatchTileKernels* batch_tile_kernels(const HeadAttention& a) {
  if (a.kv->type() != KvType::F16 || a.kv->k_dim_stride() % 16 != 0) return nullptr;
  if (kernels.avx512_fma_f16c) return &kBatchTile16;
  if (kernels.avx_fma_f16c) return &kBatchTile8;
  return nullptr;
}

// Runs of [i, j) split as evenly as `most` a run allows: the next run's end from i.
inline int even_run_end(int i, int j, int most) {
  const int runs = (j - i + most - 1) / most;
  return i + (j - i + runs - 1) / runs;
}

void attend_batch_tile(const BatchTileKernels& kern, const HeadAttention* heads, int n_heads, int count, const float* q, size_t q_stride, float* out, size_t out_stride) {
  const int hd = heads[0].head_dim, nv = hd / kern.lanes, n_max = heads[0].n_ctx, stride = heads[0].kv->k_dim_stride();
  const float scale = heads[0].scale;
  struct BatchScratch {
    HeadScratch rows;
    std::vector<float> e, acc;
    BatchPair pairs[kMaxTile * kMaxHeadGroup];
  };
  thread_local BatchScratch sc;
  sc.rows.reserve(n_max);
  const Rows rows = gather_rows(heads[0], sc.rows.k, sc.rows.v);
  const int n_pairs = count * n_heads;
  sc.e.resize(size_t(n_pairs) * kBatchTile);
  sc.acc.assign(size_t(n_pairs) * hd, 0.0f);
  // Pairs ordered by KV head, then query, then head.
  int order[kMaxHeadGroup];
  for (int h = 0; h < n_heads; h++) order[h] = h;
  std::stable_sort(order, order + n_heads, [&](int x, int y) { return heads[x].kv_offset < heads[y].kv_offset; });
  int np = 0;
  for (int oi = 0; oi < n_heads;) {
    int oj = oi;
    while (oj < n_heads && heads[order[oj]].kv_offset == heads[order[oi]].kv_offset) oj++;
    for (int t = 0; t < count; t++)
      for (int o = oi; o < oj; o++) {
        const int h = order[o], n = n_max - (count - 1 - t);
        BatchPair& p = sc.pairs[np];
        p = {q + size_t(t) * q_stride + size_t(h) * hd, out + size_t(t) * out_stride + size_t(h) * hd,
             k_head_distance(heads[0], heads[h]), ptrdiff_t(heads[h].kv->bytes_for(heads[h].kv_offset)) - ptrdiff_t(heads[0].kv->bytes_for(heads[0].kv_offset)),
             heads[h].kv_offset, n, first_attended(n, heads[h].window), -INFINITY, 0.0f,
             sc.e.data() + size_t(np) * kBatchTile, sc.acc.data() + size_t(np) * hd};
        np++;
      }
    oi = oj;
  }
  BatchPair* active[kMaxTile * kMaxHeadGroup];
  float ms[kMaxTile * kMaxHeadGroup];
  for (int t0 = sc.pairs[0].first / kBatchTile * kBatchTile; t0 < n_max; t0 += kBatchTile) {
    // The pairs reading this tile, still grouped by KV head.
    int na = 0;
    for (int i = 0; i < np; i++)
      if (pair_reads(sc.pairs[i], t0)) active[na++] = &sc.pairs[i];
    // Scores: runs of pairs of one KV head, split evenly into calls of up to max_score_pairs, for the groups any
    // of them needs.
    for (int i = 0; i < na;) {
      int kv_end = i + 1;
      while (kv_end < na && active[kv_end]->kv == active[i]->kv) kv_end++;
      for (int j; i < kv_end; i = j) {
        j = even_run_end(i, kv_end, kern.max_score_pairs);
        int valid = 0;
        for (int x = i; x < j; x++) valid = std::max(valid, std::min(kBatchTile, active[x]->n - t0));
        for (int g = 0; 16 * g < valid; g++)
          kern.scores[j - i - 1](reinterpret_cast<const uint16_t*>(rows.k[t0 + 16 * g] + active[i]->dk), stride, hd, active + i, scale, g);
      }
    }
    // Each pair's masking and online softmax, as attend_batch_avx512 / attend_batch_avx run them.
    for (int i = 0; i < na; i++) {
      BatchPair& p = *active[i];
      const int valid = std::min(kBatchTile, p.n - t0);
      for (int j = valid; j < kBatchTile; j++) p.e[j] = -INFINITY;
      batch_tile_cap_and_mask(heads[0], p.e, t0, valid, p.first);
      ms[i] = batch_tile_softmax(p.e, p.M, p.S, kern.exp);
    }
    // V: runs of pairs of one KV head and the same number of positions, split evenly into passes of up to the
    // registers' worth, in slices of up to max_v_slice vectors of the head.
    for (int i0 = 0; i0 < nv; i0 += kern.max_v_slice) {
      const int w = std::min(kern.max_v_slice, nv - i0);
      for (int i = 0; i < na;) {
        const int valid = std::min(kBatchTile, active[i]->n - t0);
        int run_end = i + 1;
        while (run_end < na && active[run_end]->kv == active[i]->kv && std::min(kBatchTile, active[run_end]->n - t0) == valid) run_end++;
        for (int j; i < run_end; i = j) {
          j = even_run_end(i, run_end, kern.max_v_pairs(w));
          kern.v_fn(w, j - i)(rows.v + t0, active[i]->dv, i0, valid, active + i, ms + i);
        }
      }
    }
  }
  for (int i = 0; i < np; i++) {
    const BatchPair& p = sc.pairs[i];
    const float s = p.S == 0.0f ? 0.0f : 1.0f / p.S;
    for (int d = 0; d < hd; d++) p.out[d] = p.acc[d] * s;
  }
}
#endif

}  // namespace

int heads_per_pass(int head_dim) {
#if defined(__x86_64__)
  if (kernels.avx512_fma_f16c) {
    switch (head_dim) {
      case 32: return max_heads_for(2);
      case 48: return max_heads_for(3);
      case 64: return max_heads_for(4);
      case 128: return max_heads_for(8);
      default: break;
    }
  }
#else
  (void)head_dim;
#endif
  return 2;
}

void attend_head(const HeadAttention& head, const float* q, float* out) {
  if (batch_arithmetic_applies(head)) return attend_batch(head, q, out);
  int skip;
  const HeadAttention a = from_block_of(head, first_attended(head.n_ctx, head.window), skip);
  const int hd = a.head_dim, n = a.n_ctx - skip;
  thread_local HeadScratch sc;
  sc.reserve(a.n_ctx);
  Rows rows = gather_rows(a, sc.k, sc.v);
  float* s = sc.s.data();
  const UpdateFn update = compute_scores(a, rows, q, s);
  cap_scores(a, s + skip, n);
  s += skip, rows.v += skip;  // the positions before the window are not attended
  float* ms = sc.ms.data();
  float* vs = sc.vs.data();
  softmax_factors(s, n, ms, vs);
#if defined(__x86_64__)
  if (a.kv->type() == KvType::F16 && kernels.avx_fma_f16c) {
    if (const SoftmaxVFn softmax_v = softmax_v_f16_avx_for(hd)) {
      normalize(out, hd, softmax_v(ms, vs, rows.v, n, out));
      return;
    }
  }
#endif
  // Position by position: the running sum, and the accumulator rescaled by ms and updated with V row p by vs.
  for (int j = 0; j < hd; j++) out[j] = 0.0f;
  float sum = 0.0f;
  for (int p = 0; p < n; p++) {
    sum = softmax_sum_step(sum, ms[p], vs[p]);
    update(out, rows.v[p], hd, ms[p], vs[p]);
  }
  normalize(out, hd, sum);
}

void attend_heads(const HeadAttention* all, int n_heads, const float* q, float* out) {
  const int hd = all[0].head_dim;
#if defined(__x86_64__)
  if (const SoftmaxHeadsFn pass = heads_pass(all, n_heads)) {
    // The heads of one token share their context, so their window too.
    int skip = 0;
    HeadAttention heads[kMaxHeadGroup] = {};
    for (int h = 0; h < n_heads; h++) heads[h] = from_block_of(all[h], first_attended(all[h].n_ctx, all[h].window), skip);
    const int n = heads[0].n_ctx;
    thread_local HeadScratch sc[kMaxHeadGroup];
    float *s[kMaxHeadGroup], *ms[kMaxHeadGroup], *vs[kMaxHeadGroup], *o[kMaxHeadGroup];
    // The block table is walked once, for the first head: the others' K rows are a fixed distance away, and the
    // V pass reads every head's V from the first head's rows.
    for (int h = 0; h < n_heads; h++) sc[h].reserve(n);
    const Rows first = gather_rows(heads[0], sc[0].k, sc[0].v);
    for (int h = 0; h < n_heads; h++) {
      Rows rows = first;
      if (h > 0) {
        const ptrdiff_t dk = k_head_distance(heads[0], heads[h]);
        const uint8_t** k = sc[h].k.data();
        for (int p = 0; p < n; p++) k[p] = first.k[p] + dk;
        rows = {k, nullptr};  // the scores read only K
      }
      compute_scores(heads[h], rows, q + size_t(h) * hd, sc[h].s.data());
      cap_scores(heads[h], sc[h].s.data() + skip, n - skip);
      s[h] = sc[h].s.data() + skip, ms[h] = sc[h].ms.data(), vs[h] = sc[h].vs.data(), o[h] = out + size_t(h) * hd;
    }
    softmax_v_heads(pass, n_heads, hd, s, n - skip, ms, vs, first.v + skip, o);
    return;
  }
#endif
  for (int h = 0; h < n_heads; h++) attend_head(all[h], q + size_t(h) * hd, out + size_t(h) * hd);
}

void attend_tile(const HeadAttention* all, int n_heads, int count, const float* q, size_t q_stride, float* out, size_t out_stride) {
  const int hd = all[0].head_dim;
#if defined(__x86_64__)
  if (batch_arithmetic_applies(all[0]))
    if (const BatchTileKernels* kern = batch_tile_kernels(all[0])) return attend_batch_tile(*kern, all, n_heads, count, q, q_stride, out, out_stride);
  const SoftmaxHeadsFn pass = heads_pass(all, n_heads);
  if (count > 1 && count <= kMaxTile && pass && all[0].kv->k_dim_stride() % 16 == 0 && ggml_f16_simd_dims(hd) == 0) {
    // The K reads start at the block of the first query's window; query t skips the positions before its own.
    const int window = all[0].window, first0 = first_attended(all[0].n_ctx - (count - 1), window);
    int base = 0;
    HeadAttention heads[kMaxHeadGroup] = {};
    for (int h = 0; h < n_heads; h++) heads[h] = from_block_of(all[h], first0, base);
    base = first0 - base;  // the view's first position in the sequence
    const int n_max = heads[0].n_ctx;
    struct TileScratch {
      std::vector<float> s;
      std::vector<double> qd, kd;
      HeadScratch head[kMaxHeadGroup];  // its ms, vs, k and v
    };
    thread_local TileScratch ts;
    const size_t span = size_t(n_max + 16);  // scores of a query and head, whole blocks of 16
    ts.s.resize(span * size_t(count) * size_t(n_heads));
    ts.qd.resize(size_t(hd) * size_t(count) * size_t(n_heads));
    ts.kd.resize(size_t(hd) * 16);
    float* s[kMaxHeadGroup][kMaxTile];
    for (int h = 0; h < n_heads; h++) ts.head[h].reserve(int(span));
    // As in attend_heads: the first head's rows, the others' K a fixed distance from them.
    const Rows first = gather_rows(heads[0], ts.head[0].k, ts.head[0].v);
    for (int h = 0; h < n_heads; h++) {
      const ptrdiff_t dk = k_head_distance(heads[0], heads[h]);
      const double* qd[kMaxTile];
      for (int t = 0; t < count; t++) {
        double* d = ts.qd.data() + (size_t(h) * count + t) * hd;
        f16_rounded_query(q + size_t(t) * q_stride + size_t(h) * hd, hd, d);
        qd[t] = d;
        s[h][t] = ts.s.data() + (size_t(h) * count + t) * span;
      }
      const int stride = heads[h].kv->k_dim_stride();
      for (int p0 = 0; p0 < n_max; p0 += 16) {
        k_block_to_double(reinterpret_cast<const uint16_t*>(first.k[p0] + dk), stride, hd, ts.kd.data());
        // Queries whose context reaches position p0 (query t sees n_max - (count - 1 - t) positions).
        tile_scores(ts.kd.data(), hd, qd, heads[h].scale, s[h], std::max(0, count - (n_max - p0)), count, p0);
      }
    }
    float *st[kMaxHeadGroup], *ms[kMaxHeadGroup], *vs[kMaxHeadGroup], *o[kMaxHeadGroup];
    for (int h = 0; h < n_heads; h++) ms[h] = ts.head[h].ms.data(), vs[h] = ts.head[h].vs.data();
    for (int t = 0; t < count; t++) {
      const int n_t = n_max - (count - 1 - t), skip = first_attended(base + n_t, window) - base;
      for (int h = 0; h < n_heads; h++) {
        st[h] = s[h][t] + skip, o[h] = out + size_t(t) * out_stride + size_t(h) * hd;
        cap_scores(heads[h], st[h], n_t - skip);
      }
      softmax_v_heads(pass, n_heads, hd, st, n_t - skip, ms, vs, first.v + skip, o);
    }
    return;
  }
#endif
  const int n_max = all[0].n_ctx;
  HeadAttention at[kMaxHeadGroup];
  for (int t = 0; t < count; t++) {
    for (int h = 0; h < n_heads; h++) {
      at[h] = all[h];
      at[h].n_ctx = n_max - (count - 1 - t);
    }
    attend_heads(at, n_heads, q + size_t(t) * q_stride, out + size_t(t) * out_stride);
  }
}

ExpfLaneCheck batch_expf_mismatches(uint32_t first, uint32_t count) {
  ExpfLaneCheck r{0, -1};
  alignas(64) float x[16], y[16];
  for (uint64_t i0 = 0; i0 < count; i0 += 16) {
    const int n = int(std::min<uint64_t>(16, count - i0));
    for (int j = 0; j < 16; j++) {
      const uint32_t bits = first + uint32_t(i0 + uint64_t(std::min(j, n - 1)));
      std::memcpy(&x[j], &bits, 4);
    }
#if defined(__x86_64__)
    if (kernels.avx512_fma_f16c) expf16_lanes(x, y);
    else if (kernels.avx_fma_f16c) expf8_lanes(x, y);
    else return r;
#else
    return r;
#endif
    for (int j = 0; j < n; j++) {
      const float want = ggml_expf_lane(x[j]);
      if (std::memcmp(&want, &y[j], 4) != 0 && !(std::isnan(want) && std::isnan(y[j]))) {
        if (r.mismatches++ == 0) r.first_mismatch = int64_t(first) + int64_t(i0) + j;
      }
    }
  }
  return r;
}

}  // namespace ir
