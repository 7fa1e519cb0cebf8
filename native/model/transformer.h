// The decoder of the llama-like families (llama, mistral, qwen2/3, gemma2/3, phi3, granite, and the experts of
// moe.h): one batched forward over tokens of many sequences, K/V read and written through block tables in a KvPool.
// What each family changes is in family.h.
#pragma once
#include <cstdint>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../kernels/matmul.h"
#include "../kernels/pack.h"
#include "family.h"
#include "moe.h"
#include "reduced_head.h"
#include "../kv/kv_pool.h"
#include "../thread_pool.h"

namespace ir {

struct ModelConfig {
  int n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int rope_dim = 0;          // rotated dimensions per head (<= head_dim)
  bool rope_neox = false;    // rotate (i, i + rope_dim/2) pairs instead of adjacent ones
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor
  float rms_eps = 1e-5f;
  // Compute every token as llama.cpp computes the tokens of a batch of 64 or more (its tiled flash attention, its
  // batched Q4_K kernel's order) instead of as it computes a lone token (the default: its generation path).
  // llama-perplexity evaluates each chunk as one such batch; see attention.h and Matrix::gemm_order. The default
  // for batches without StepBatch::row_arithmetic.
  bool batch_arithmetic = false;
  FamilyConfig family;  // gemma2/gemma3, phi3, granite particulars (family.h)
  // Q and K norms over the whole projection (olmoe) rather than per head (qwen3).
  bool qk_norm_full = false;
  MoeConfig moe;  // n_expert > 0: every layer's FFN is a mixture of experts (moe.h)
};

// Per-row arithmetic flags (StepBatch::row_arithmetic): which of llama.cpp's paths computes this token there.
// kRowGemmOrder: its repacked kernels' batched order (ggml_gemm_*: the rows of a ubatch of 4+ rows but its last
// n % 4) for the matrices it repacks (Matrix::gemm_order); kRowTiledAttention: its tiled flash attention (a ubatch
// of 64+ rows); kRowOutputGemmOrder: the batched order also in the last layer's feed-forward and the head when
// the step keeps fewer logit rows than tokens there (llama.cpp's inp_out_ids: a prompt's one output row is a
// single row to those matmuls); kRowFloatBatch: tinyBLAS's order in F32/F16/BF16 matmuls (a row of a ubatch of 2+
// rows; without it, ggml_vec_dot's, as a lone token). Every row's result depends only on its own flags, never on
// the other rows'. The matmul bits are the kernels' own (kOrder*, kernel_variants.h).
constexpr uint8_t kRowGemmOrder = kOrderQ4kGemm, kRowTiledAttention = 2, kRowOutputGemmOrder = 4,
                  kRowFloatBatch = kOrderFloatBatch;
constexpr uint8_t kRowMatmulOrders = kRowGemmOrder | kRowFloatBatch;
static_assert((kRowMatmulOrders & (kRowTiledAttention | kRowOutputGemmOrder)) == 0, "row flags overlap");

// A 1-D tensor (norm weights, biases) or a weight matrix, pointing into the mapped file.
struct LayerWeights {
  const float* attn_norm = nullptr;
  Matrix wq{}, wk{}, wv{}, wo{};
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
  const float *q_norm = nullptr, *k_norm = nullptr;  // qwen3: per-head RMSNorm of Q and K
  const float* ffn_norm = nullptr;
  Matrix ffn_gate{}, ffn_up{}, ffn_down{};
  const float *attn_post_norm = nullptr, *ffn_post_norm = nullptr;  // gemma2/3: RMSNorm of each block's output
  MoeWeights moe;  // in place of ffn_gate/up/down in a mixture-of-experts layer
};

struct ModelWeights {
  Matrix token_embd{};
  const float* output_norm = nullptr;
  Matrix output{};  // token_embd when tied
  const float* rope_freqs = nullptr;  // llama3-style per-dimension frequency factors, rope_dim / 2 of them
  // phi3's LongRoPE factors (rope_dim / 2 each): rope_freqs is one of them, by the context size (use_long_rope).
  const float *rope_factors_long = nullptr, *rope_factors_short = nullptr;
  std::vector<LayerWeights> layers;
  // The matrices point into a read-only file mapping, whose pages the Transformer may release (release_pages).
  bool file_mapped = false;
};

// Early exit (decode steps whose every token wants logits): after layers[e] layers, if every row's confidence
// (top softmax probability, over the exit head when one is set, else over the full head) reaches
// thresholds[e], the forward stops there; see early_exit.cc.
struct ExitPlan {
  int n = 0;
  const int32_t* layers = nullptr;      // increasing, each in [1, n_layer)
  const float* thresholds = nullptr;
  int32_t* layers_used = nullptr;       // out: layers each logit row went through
};

// One engine step: tokens of several sequences. Sequence s owns block table
// block_tables[table_offsets[s] .. table_offsets[s+1]); token i sits at positions[i] of seq_ids[i].
// With a KV pool whose window layers have blocks of their own (KvPool::has_window_group), sequence s also owns
// window table window_block_tables[window_table_offsets[s] .. [s+1]), through which those layers find their
// blocks: logical blocks as in block_tables, -1 for a block before every one of the sequence's tokens' windows.
struct StepBatch {
  int n_tokens = 0;
  const int32_t* tokens = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* seq_ids = nullptr;
  int n_seqs = 0;
  const int32_t* block_tables = nullptr;
  const int32_t* table_offsets = nullptr;
  const int32_t* window_block_tables = nullptr;
  const int32_t* window_table_offsets = nullptr;
  // Sequence s's block table for the layers of a KV pool group (KvPool::group).
  const int32_t* table(int s, int group) const {
    return group == 1 ? window_block_tables + window_table_offsets[s] : block_tables + table_offsets[s];
  }
  int n_logit_rows = 0;
  const int32_t* logit_rows = nullptr;  // token indices whose logits are wanted, in output order
  float* logits = nullptr;              // n_logit_rows * n_vocab
  // Self-drafting: run only the first n_layers layers, then the final norm and head (0 = all layers). K/V of
  // the skipped layers is left untouched for these positions; the verifying full-depth step overwrites it.
  int n_layers = 0;
  ExitPlan exit;
  // Greedy drafting with a reduced head: logits only over the draft head's tokens (set_draft_head), each row
  // draft_head().size() wide; ignored while no draft head is set.
  bool draft_head = false;
  // Greedy rows: when set (n_logit_rows entries), argmax[r] receives the index (token id, also with the draft head)
  // of row r's largest logit and the logits are not written; matmul_argmax skips most of the head's exact work.
  int32_t* argmax = nullptr;
  // n_tokens kRow* flags; null = every row all of them with ModelConfig::batch_arithmetic, else none.
  const uint8_t* row_arithmetic = nullptr;
};

class Transformer {
 public:
  // Packs the matrices the forward multiplies by (not token_embd, which is only looked up) for the packed kernels,
  // over the pool; Q8_0 ones only once batches come (deferred_packs_), read in place until then. With file-mapped
  // weights, the pages of what a packed copy replaces are released as soon as it is made, and those of a float
  // head with an estimate copy (greedy steps read a few of its rows): weights are resident once, the file's pages
  // or the packed copy, and an original's pages are not touched again once its copy exists (rows read back
  // through read_row: the token embedding of a tied head, matmul_argmax's candidates, reduced heads).
  // A float head's Q8_0 estimate copy for greedy steps is made after load: by a background thread of idle
  // priority while the JavaScript side goes on loading (the tokenizer, the engine), and what is left by the first
  // forward (finish_head_estimate); all of it there when background_head_estimate is false (tests). The file must
  // stay as it is from load to the first forward, as it must for every forward.
  Transformer(const ModelConfig& cfg, ModelWeights weights, ThreadPool& pool, bool background_head_estimate);
  ~Transformer();
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;
  // Whether greedy steps estimate the head through its Q8_0 copy now (false also for heads that get none).
  bool head_estimate_ready() const { return w_.output.shadow != nullptr; }
  const ModelConfig& config() const { return cfg_; }
  // LongRoPE: the long factors for contexts longer than the original one, else the short (as llama.cpp chooses by
  // its context size). No effect without LongRoPE factors; call before any forward.
  void use_long_rope(bool long_factors) {
    if (w_.rope_factors_long) w_.rope_freqs = long_factors ? w_.rope_factors_long : w_.rope_factors_short;
  }

  // Returns an empty string on success, or what was wrong with the batch (nothing is written then).
  std::string validate(const StepBatch& b, const KvPool& kv) const;
  // A decode step of several sequences (one token each, no early exit) runs as one forward per pool thread over a
  // contiguous share of its rows (forward_by_sequence), unless the weights are large and the shares small
  // (splits_by_sequence); any other batch as one forward whose matmuls and attention are spread over the pool. The
  // results are the same either way.
  void forward(ThreadPool& pool, KvPool& kv, const StepBatch& b);
  // The rows of the output head (token ids) that the early-exit confidence test uses; empty = the full head.
  void set_exit_head(const std::vector<int32_t>& token_ids, ThreadPool& pool);
  // The output rows greedy drafting computes when a batch asks for the draft head; empty = none. Padded to whole
  // packed groups with copies of its last token (which never change an argmax: the first of equal maxima wins), so
  // that drafting takes the argmax with matmul_argmax.
  void set_draft_head(std::vector<int32_t> token_ids, ThreadPool& pool);
  const ReducedHead& draft_head() const { return draft_head_; }
  // A draft model whose packed Q8_0 head holds exactly the bytes of `target`'s argmax estimate copy (a Q8_0 draft
  // head quantized from the same float head the target's copy was made from, as llama-quantize's q4_0/q8_0 files of
  // the target are) reads that copy instead of its own, which it frees: drafting and verifying alternate on one
  // head's bytes, not two (in cache and in memory). `target` must outlive this model. False (nothing changed) when
  // the bytes differ or either copy is missing.
  // Makes the rest of `target`'s copy first, over the pool.
  bool share_head_with(Transformer& target, ThreadPool& pool);
  bool uses_draft_head(const StepBatch& b) const { return b.draft_head && !draft_head_.empty(); }
  // Columns of a logits row this batch produces.
  int logits_width(const StepBatch& b) const { return uses_draft_head(b) ? draft_head_.size() : cfg_.n_vocab; }

 private:
  struct Tile {
    int first, count;  // consecutive tokens of one sequence, attended together
  };
  // One forward's working buffers, grown to the largest batch seen.
  struct Activations {
    std::vector<float> rope_cache;      // cos/sin per token and rotated pair
    std::vector<float> rope_cache_swa;  // the same with the sliding-window layers' RoPE, when it differs
    std::vector<Tile> tiles;
    std::vector<float> x, xn, q, k, v, att, proj, gate, up;
    std::vector<float> head_in;   // the final-norm'd rows the output head multiplies
    std::vector<float> head_out;  // logits of greedy rows whose argmax needs the final values (transforms_logits)
    std::vector<uint8_t> embd_row;  // a token embedding row read back from a packed copy
    MoeScratch moe;
    std::vector<uint8_t> flags;      // the rows' kRow* flags (StepBatch::row_arithmetic or the default)
    std::vector<uint8_t> gemm_rows;  // flags & kRowMatmulOrders: the matmuls' per-row orders
    std::vector<uint8_t> out_flags;  // the same for the rows of the last feed-forward and the head
  };
  // A pool thread's part of a decode step split by sequence: a one-thread pool (the kernels' parallel sections
  // run inline) and its own buffers.
  struct Lane {
    ThreadPool pool{1};
    Activations a;
  };

  // Makes what is left of the head's estimate copy over the pool and puts it in use; the first forward does, so
  // that the background thread's reads of the file end with it, as a forward's own do (whatever the step needs).
  void finish_head_estimate(ThreadPool& pool);
  void stop_head_estimate_worker();
  // AVX2: a Q8_0 head's largest block scale (what bounds matmul_argmax's estimate), scanned over the pool at the
  // first greedy step of 2+ rows, the first to estimate: single-sequence use never scans the head for it (at load the
  // scan took ~200 ms, single-threaded page faults on Qwen2.5-0.5B's 144 MB head).
  void scale_head_for_estimate(ThreadPool& pool, const StepBatch& b);
  // Points m at a new packed copy (PackedWeights::attach) and releases the file pages it replaces.
  void attach_packed(Matrix& m, ThreadPool& pool);
  // What follows the packing of m: its file pages released (if its copy holds all of it), a tied token embedding
  // pointed at the head's copy.
  void after_packing(Matrix& m);
  // Packs the Q8_0 matrices load left to be read in place (deferred_packs_), over the pool, into one allocation.
  void pack_deferred(ThreadPool& pool);
  // Counts a forward's rows if it is a batch; packs the deferred matrices once kPackAfterBatchRows have come.
  void count_batch_rows(ThreadPool& pool, int n_tokens);
  std::string validate_window_tables(const StepBatch& b, const KvPool& kv) const;
  bool splits_by_sequence(const ThreadPool& pool, const StepBatch& b);
  void forward_by_sequence(ThreadPool& pool, KvPool& kv, const StepBatch& b);
  void run(ThreadPool& pool, KvPool& kv, const StepBatch& b, Activations& a);
  // early_exit.cc: after `done` layers, tests the plan's exit at that depth; on exit writes the logits and the
  // skipped layers' K/V and returns true.
  bool try_exit(ThreadPool& pool, KvPool& kv, const StepBatch& b, int done, Activations& a);
  void fill_skipped_kv(ThreadPool& pool, KvPool& kv, const StepBatch& b, int from_layer, Activations& a);
  void write_kv(KvPool& kv, const StepBatch& b, int layer, const LayerWeights& L, int from, int to, Activations& a);
  void attention(ThreadPool& pool, const KvPool& kv, int layer, const StepBatch& b, Activations& a);
  void fill_rope_cache(const StepBatch& b, float base, float freq_scale, std::vector<float>& cache) const;
  // token: index in the batch (its rope cache row); layer picks the cache (sliding-window layers may have their own)
  void rope(const Activations& a, float* x, int n_heads, int token, int layer) const;
  // The head's logits rows after the families' logit transforms (soft-cap, granite's scale).
  void finish_logits(float* logits, int rows, int width) const;
  int keep_logit_rows(const StepBatch& b, Activations& a);
  void add_block_output(Activations& a, const float* post_norm, int rows) const;
  bool transforms_logits() const;

  ModelConfig cfg_;
  ModelWeights w_;
  PackedWeights packed_;  // owns the packed copies w_'s matrices point to
  // Q8_0 matrices without their packed copy yet. Single activation rows read Q8_0 in place as fast as packed
  // (tile_simd's q8_0_lone_rows), while a packed copy costs fresh pages (zeroed, then written: in this VM ~1.5 s
  // of CPU per GB, most of a Q8_0 file's load-to-first-token); batches of rows gain from it (the packed kernels
  // decode each weight block once for 16 rows). So they are packed once forwards of 2+ rows have brought
  // kPackAfterBatchRows rows (a prompt of 16+ tokens, 16 sequences, a few speculative verify steps), not at load.
  std::vector<Matrix*> deferred_packs_;
  static constexpr int64_t kPackAfterBatchRows = 16;
  int64_t batch_rows_seen_ = 0;
  double step_weight_bytes_ = 0;  // the dense matrices' bytes, the head's included: what a forward streams
  bool head_scale_pending_ = false;  // scale_head_for_estimate has yet to run
  std::vector<AnonymousMemory> expert_copies_;  // unpacked experts in 2 MiB pages (copy_experts)
  Activations main_;      // the engine thread's forward
  std::vector<std::unique_ptr<Lane>> lanes_;  // one per pool thread, made on the first split step
  std::vector<uint8_t> seen_seqs_;            // splits_by_sequence's scratch
  std::vector<float> exit_logits_;
  ReducedHead exit_head_, draft_head_;
  std::unique_ptr<ShadowBuild> head_estimate_;  // the head's copy while it is being made
  std::atomic<bool> stop_head_estimate_{false};
  std::thread head_estimate_worker_;            // makes head_estimate_'s chunks at idle priority
};

}  // namespace ir
