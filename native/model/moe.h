// The mixture-of-experts feed-forward (qwen3moe, Mixtral-style llama, olmoe, qwen2moe) with llama.cpp's arithmetic
// (build_moe_ffn): router logits, softmax, the top-k experts by probability, their weights (renormalised to sum
// to one where the architecture asks), each selected expert's SwiGLU FFN, the weighted outputs summed in rank order;
// then, where the architecture has one (qwen2moe), a shared expert every token uses, weighted by a sigmoid gate.
#pragma once
#include <cstdint>
#include <vector>

#include "../anonymous_memory.h"
#include "../kernels/matmul.h"
#include "../thread_pool.h"

namespace ir {

struct MoeConfig {
  int n_expert = 0;       // 0: a dense model
  int n_expert_used = 0;  // experts per token (top-k)
  int n_ff_exp = 0;       // hidden width of one expert
  // Divide the selected experts' probabilities by their sum (llama.cpp's norm_w: qwen3moe, llama; not olmoe).
  bool norm_weights = false;
  int n_ff_shared = 0;  // hidden width of the shared expert (0: none)
};

struct MoeWeights {
  Matrix router{};  // ffn_gate_inp: n_expert rows of n_embd
  // One matrix per expert: views into the merged ffn_{gate,up,down}_exps tensors.
  std::vector<Matrix> gate, up, down;
  // The shared expert: a dense SwiGLU FFN, and its gate (one row: sigmoid(row · x) weighs its output).
  Matrix shared_gate_inp{}, shared_gate{}, shared_up{}, shared_down{};
  bool present() const { return !down.empty(); }
};

// Working buffers of one forward's MoE layers, grown to the largest batch seen.
struct MoeScratch {
  std::vector<float> logits, probs, weights;  // [rows][n_expert], [rows][n_expert], [rows][n_expert_used]
  std::vector<int32_t> selected;              // [rows][n_expert_used]: expert of each rank
  std::vector<int32_t> order;                 // [rows][n_expert]: the experts of a row, sorted by probability
  std::vector<int32_t> count, start;          // per expert: how many (row, rank) pairs it has, where they begin
  std::vector<int32_t> pair_rows;             // [pairs]: the token row of each pair, grouped by expert
  std::vector<int32_t> pair_of;               // [rows][n_expert_used]: the pair index of (row, rank)
  std::vector<int32_t> pair_index;            // 0, 1, 2, ...: each expert's rows of hidden for down
  std::vector<float> gate, up, hidden, down;  // [pairs][n_ff_exp] x3, [pairs][n_embd]
  std::vector<float> sh_gate_in, sh_gate, sh_up, sh_hidden, sh_out;  // the shared expert's: [rows], [rows][n_ff_shared] x3, [rows][n_embd]
  std::vector<MatmulJob> jobs;
};

// out[r] (n_embd wide) = the experts' weighted sum for row r of xn, r < rows. Each selected expert's matrices are
// read once for all the rows that chose it (one parallel section for gate and up, one for down), and every row's
// result is the bits it has alone (llama.cpp's mul_mat_id sums each row as ggml_vec_dot does). The router and the
// shared expert are ordinary matmuls: gemm_rows gives their rows' orders (matmul_shared_input's).
void moe_ffn(ThreadPool& pool, const MoeConfig& cfg, const MoeWeights& w, const float* xn, int rows, int n_embd, float* out,
             MoeScratch& s, const uint8_t* gemm_rows = nullptr);

// Expert rows of a merged [n_expert][rows][cols] tensor as one matrix per expert.
std::vector<Matrix> split_experts(const Matrix& merged, int n_expert);

// Copies a merged tensor's experts (split_experts' matrices, contiguous) into anonymous memory in 2 MiB pages over
// the pool and points the matrices there; the caller releases the file's pages (weights resident once). A batched
// step reads every expert once per layer from memory: with 4 KiB file pages each page of a stream missed the TLB.
AnonymousMemory copy_experts(ThreadPool& pool, std::vector<Matrix>& experts);

}  // namespace ir
