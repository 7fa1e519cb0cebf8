#include "family.h"

#include <cmath>

#include "../ggml_types.h"

namespace ir {

namespace {

// ggml_gelu_f32 as the prebuilt CPU library computes it (GCC contracts 1 + A·x·x into a fused multiply-add).
float gelu_tanh(float x) {
  const float kSqrt2OverPi = 0.79788456080286535587989211986876f, kA = 0.044715f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * std::fma(kA * x, x, 1.0f)));
}

// ggml_table_gelu_f16: gelu of every f16 value, rounded to f16 (ggml_cpu_init fills it the same way).
const std::vector<uint16_t>& gelu_table() {
  static const std::vector<uint16_t> table = [] {
    std::vector<uint16_t> t(1 << 16);
    for (uint32_t i = 0; i < t.size(); i++) t[i] = fp32_to_fp16(gelu_tanh(fp16_to_fp32(uint16_t(i))));
    return t;
  }();
  return table;
}

}  // namespace

void geglu(const float* gate, const float* up, float* out, int64_t n) {
  const uint16_t* table = gelu_table().data();
  for (int64_t i = 0; i < n; i++) {
    const float x = gate[i];
    if (x <= -10.0f) out[i] = 0.0f;
    else if (x >= 10.0f) out[i] = x * up[i];
    else out[i] = fp16_to_fp32(table[fp32_to_fp16(x)]) * up[i];
  }
}

void softcap(float* x, int64_t n, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; i++) x[i] = std::tanh(x[i] * inv) * cap;
}

void scale(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

}  // namespace ir
