// Attention of one query head over the K/V a sequence has in the paged pool.
#pragma once
#include <cstdint>

#include "../kv/kv_pool.h"

namespace ir {

// Largest head size attend_head handles (checked when a batch is validated).
constexpr int kMaxHeadDim = 512;

struct HeadAttention {
  const KvPool* kv;
  int layer;
  const int32_t* block_table;  // the sequence's blocks, already checked against the pool
  int n_ctx;                   // positions 0 .. n_ctx-1 are attended (causal)
  int kv_offset;               // element offset of the KV head inside a K/V row
  int head_dim;
  float scale;
  // Compute as llama.cpp computes the tokens of a batch of 64 or more (see attend_head) instead of a lone token's.
  bool batch_arithmetic = false;
  // Sliding window: only the last `window` positions of the context are attended (0 = all), as llama.cpp's
  // standard SWA mask; the masked positions are skipped, so the online softmax starts at the window's first.
  int window = 0;
  // Soft-capped scores: cap·tanhf(q·k·scale) (scale already divided by the cap, as llama.cpp does); 0 = none.
  float softcap = 0;
};

// out[head_dim] = softmax(q·K^T * scale) · V, reading K and V through the block table.
// With an f16 pool this follows llama.cpp's CPU flash-attention arithmetic step for step (query rounded to
// f16, f16·f16 products summed in double, online softmax, the V accumulator rounded to f16 after every
// position), so greedy output agrees with llama.cpp's token for token; the SIMD paths keep that order exactly.
// With a q8_0 pool the query is quantized to q8_0 for the K dot products and V is accumulated in f32, as
// llama.cpp does; with an f32 pool everything stays in f32.
// With batch_arithmetic (and an f16 or f32 pool whose head size is a multiple of 16, as llama.cpp requires), the
// arithmetic is instead that of llama.cpp's flash attention for a batch of 64 or more tokens
// (ggml_compute_forward_flash_attn_ext_tiled): query in f32, scores as f32 fused multiply-add chains, the online
// softmax over tiles of 64 positions with its vectorized expf and sums in double, V accumulated in f32.
// The result for a query depends only on the query, the K/V it reads and the arithmetic, never on the rest of the
// batch.
void attend_head(const HeadAttention& a, const float* q, float* out);
// Most heads attend_heads and attend_tile take at once.
constexpr int kMaxHeadGroup = 6;
// How many heads of this size to hand attend_heads / attend_tile at once on this CPU: as many as the multi-head
// pass keeps in registers (their sequential softmax chains overlap), else 2.
int heads_per_pass(int head_dim);
// n_heads (<= kMaxHeadGroup) heads of the same token: head h's query at q + h·head_dim, its output at out + h·head_dim.
// The same results as an attend_head call per head, computed together where the CPU allows.
void attend_heads(const HeadAttention* heads, int n_heads, const float* q, float* out);

// Most consecutive queries attend_tile takes.
constexpr int kMaxTile = 8;
// A tile of `count` (<= kMaxTile) consecutive queries of one sequence, for n_heads adjacent heads: query t's heads
// are at q + t·q_stride (as for attend_heads) and write out + t·out_stride likewise. heads describe the last query;
// query t attends to n_ctx - (count - 1 - t) positions. The same results as attend_heads for each query; K is
// read once for the whole tile. In the batch arithmetic (AVX-512, or AVX with FMA and F16C; an f16 pool) each K
// group and V row is converted once for every query and head of the tile that reads it (the heads of one KV head
// under GQA).
void attend_tile(const HeadAttention* heads, int n_heads, int count, const float* q, size_t q_stride, float* out, size_t out_stride);

// The batch arithmetic's vectorized expf (ggml_v_expf) on the float bit patterns [first, first + count): how many
// give other bits on this CPU's vector path (AVX or AVX-512, for the test) than on the one-lane reference, and the
// first of them (-1 if none).
struct ExpfLaneCheck {
  int64_t mismatches;
  int64_t first_mismatch;
};
ExpfLaneCheck batch_expf_mismatches(uint32_t first, uint32_t count);

}  // namespace ir
