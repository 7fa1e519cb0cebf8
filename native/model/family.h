// What the model families beyond llama change in the decoder (gemma2/gemma3, phi3, granite), each computed as
// llama.cpp's graph for that architecture computes it (src/models/<arch>.cpp). Zero / false means "as llama".
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ir {

struct FamilyConfig {
  float embd_scale = 0;      // token embeddings times this (gemma: sqrt(n_embd); granite: embedding_scale)
  float q_scale = 0;         // Q times this after RoPE, the scores then unscaled (gemma, phi3); 0: scores times attn_scale
  float attn_scale = 0;      // scale of the scores when q_scale is 0 (granite: attention.scale); 0: 1/sqrt(head_dim)
  float attn_softcap = 0;    // scores -> cap·tanh(score/cap) (gemma2)
  float final_softcap = 0;   // logits -> cap·tanh(logit/cap) (gemma2, some gemma3)
  float residual_scale = 0;  // attention and FFN outputs times this before their residual add (granite)
  float logit_scale = 0;     // logits times 1/this (granite)
  bool gelu = false;         // GeGLU, tanh gelu of the gate as ggml's f16 table gives it, instead of SwiGLU
  int n_swa = 0;             // sliding window (positions a query sees, itself included) of the layers swa_layers marks
  std::vector<uint8_t> swa_layers;
  float rope_base_swa = 10000.0f, rope_freq_scale_swa = 1.0f;  // RoPE of the sliding-window layers
  float rope_attn_factor = 1.0f;  // RoPE's cos and sin times this (phi3's LongRoPE: rope.scaling.attn_factor)
  bool swa(int layer) const { return n_swa > 0 && swa_layers[std::size_t(layer)]; }
};

// out = gelu(gate) * up as ggml_vec_geglu_f32 (GGML_GELU_FP16): gelu looked up in ggml's f16 table for
// -10 < gate < 10, 0 below, the identity above.
void geglu(const float* gate, const float* up, float* out, int64_t n);
// x -> cap · tanhf(x · (1/cap)), as llama.cpp's scale, tanh, scale chain.
void softcap(float* x, int64_t n, float cap);
// x *= s, as ggml_scale.
void scale(float* x, int64_t n, float s);

}  // namespace ir
