// Row operations shared by the forward and the early-exit path.
#pragma once
#include <cmath>

namespace ir {

inline void rmsnorm(const float* x, const float* weight, int n, float eps, float* out) {
  double ss = 0;
  for (int i = 0; i < n; i++) ss += double(x[i] * x[i]);  // float product, double sum: as ggml_rms_norm
  const float scale = 1.0f / std::sqrt(float(ss / n) + eps);
  for (int i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

inline void add_bias(float* x, const float* bias, int rows, int n) {
  if (!bias) return;
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < n; i++) x[size_t(r) * n + i] += bias[i];
}

}  // namespace ir
