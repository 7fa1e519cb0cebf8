// Matrix multiply of weights (any supported GGML type, mmapped) against f32 activations.
// Activations are first converted to the type llama.cpp pairs with the weight type ("vec_dot type":
// F16 for F16, BF16 for BF16, Q8_0 for the 32-blocks, Q8_K for the K-quants), so results agree with it.
#pragma once
#include <cstdint>

#include "../ggml_types.h"
#include "../thread_pool.h"
#include "kernel_variants.h"

namespace ir {

// A 2-D weight tensor: `rows` rows of `cols` elements each, rows contiguous.
// A Q8_0 copy of a float (F32/F16/BF16) matrix, packed (pack.h), that matmul_argmax estimates with, and what
// bounds how far its products can be from the float matrix's.
struct ArgmaxShadow {
  const uint8_t* packed;
  float max_abs_scale;   // largest |block scale| of the copy
  // Largest Euclidean norms over the rows r of: w_r, the copy ŵ_r, and w_r - ŵ_r (each rounded up).
  float max_norm, max_copy_norm, max_error_norm;
};

struct Matrix {
  const uint8_t* data;
  int type;
  int64_t rows;
  int64_t cols;
  // Optional row-interleaved copy of the first rows / 16 * 16 rows (pack.h), which the AVX-512 variant computes
  // with instead of `data`; every variant gives the same results either way.
  const uint8_t* packed = nullptr;
  // Largest |block scale| of a Q8_0 matrix (0 = unknown): bounds matmul_argmax's estimate (AVX-512: of a packed
  // matrix, set with `packed`; AVX2: of its rows).
  float max_abs_scale = 0;
  // Optional estimate copy of a float matrix for matmul_argmax (AVX-512 only).
  const ArgmaxShadow* shadow = nullptr;
  // Sum Q4_K rows in the order of llama.cpp's batched kernel (ggml_gemm_q4_K_8x8_q8_K: a fused multiply-add per
  // 64 weights) rather than its single-row one (per 256-weight super-block), for every activation row: how a
  // model computing with llama.cpp's batch arithmetic (ModelConfig::batch_arithmetic) sums.
  bool gemm_order = false;
};

// True when matmul and dequantize_row handle this weight type.
bool kernel_supports(int type);

// y[m * w.rows + n] = dot(row n of w, x[m * w.cols ...]) for m < n_act, n < w.rows.
void matmul(ThreadPool& pool, const Matrix& w, const float* x, int n_act, float* y);

// out[m] = the index of the largest of matmul's outputs for activation row m (the first of equal maxima, NaN never
// largest; -1 when every output is NaN or -infinity): exactly what scanning matmul's output gives. For a packed
// Q8_0 matrix (AVX2: any Q8_0 matrix with max_abs_scale, 2+ activation rows) it computes a cheaper estimate of
// every output (per-block integer sums, one multiply-add per block), bounds the estimate's distance from matmul's
// result from the scales and the activations, and computes matmul's exact value only for the rows within twice that
// bound of the largest estimate.
// gemm_rows: the rows' order bits, as matmul_shared_input takes them.
void matmul_argmax(ThreadPool& pool, const Matrix& w, const float* x, int n_act, int32_t* out,
                   const uint8_t* gemm_rows = nullptr);

// matmul with an explicit kernel variant (tests compare variants); a variant the CPU lacks falls back to scalar
// per weight type only where that variant has no kernel, so callers must check variant_available first.
void matmul_variant(ThreadPool& pool, const Matrix& w, const float* x, int n_act, float* y, Variant variant);
// Several matrices with the same column count applied to the same activations (Q/K/V, or FFN gate/up): the
// activations are converted once and all row bands go to the pool in one parallel section. ys[j] gets matrix j's
// output, laid out as in matmul. gemm_rows (optional, n_act entries of kOrder* bits, kernel_variants.h) gives each
// activation row its order (Q4_K's batched one over Matrix::gemm_order; a float matrix's tinyBLAS or vec_dot one,
// which without gemm_rows the row count picks, as in llama.cpp); each row's result is the bits its order gives it alone.
void matmul_shared_input(ThreadPool& pool, const Matrix* const* ws, float* const* ys, int n, const float* x, int n_act,
                         const uint8_t* gemm_rows = nullptr);
void matmul_group(ThreadPool& pool, const Matrix* const* ws, float* const* ys, int n, const float* x, int n_act,
                  Variant variant, const uint8_t* gemm_rows = nullptr);

// One of several independent matmuls run in one parallel section (matmul_jobs): y = w · (rows of x).
struct MatmulJob {
  const Matrix* w;
  const float* x;              // activation rows of w->cols elements
  const int32_t* rows;         // which rows of x, in output order (nullptr: rows 0 .. n_act-1)
  int n_act;
  float* y;                    // n_act * w->rows, laid out as in matmul
  // Every activation row summed as it would be alone (llama.cpp's mul_mat_id: ggml_vec_dot's order for float
  // types whatever the row count; the quantized kernels give a batch row its lone bits anyway).
  bool rows_alone = false;
  // Per activation row (n_act entries, in output order), overrides Matrix::gemm_order (see matmul_shared_input).
  const uint8_t* gemm_rows = nullptr;
};
// Jobs sharing an input pointer and activation type convert it once; bands of all jobs share the pool's threads.
void matmul_jobs(ThreadPool& pool, const MatmulJob* jobs, int n);
void matmul_jobs_variant(ThreadPool& pool, const MatmulJob* jobs, int n, Variant variant);

// The variant matmul uses: the widest this CPU supports (AVX-512 needs F/BW/VL/VNNI; AVX2 needs FMA and F16C; Amx
// is AVX-512 with AMX-INT8 tiles the OS grants, cpu_features.h).
Variant auto_variant();
bool variant_available(Variant v);

// out[i] = silu(gate[i]) * up[i] computed as llama.cpp's ggml_vec_swiglu_f32 does on this CPU (its own vector
// exp approximation), so that the FFN's quantized input matches llama.cpp's bit for bit.
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// Expands one row (n elements) of any supported type to f32.
void dequantize_row(int type, const uint8_t* src, float* dst, int64_t n);

}  // namespace ir
