#include "transformer.h"

#include "attention.h"
#include "../mapped_file.h"
#include "norm.h"
#include "../kernels/cpu_features.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ir {

Transformer::Transformer(const ModelConfig& cfg, ModelWeights weights, ThreadPool& pool, bool background_head_estimate)
    : cfg_(cfg), w_(std::move(weights)) {
  w_.output.gemm_order = cfg.batch_arithmetic;
  // Q8_0 matrices are read in place by single activation rows and packed only once batches have come
  // (pack_deferred), so that loading does not wait on their copies; every other packable type is packed now, all
  // together after the layers (PackedWeights::attach_all: one allocation, 2 MiB pages). Since q8dec34 the in-place
  // rows are slower than the packed copy (2-5x the CPU per step on Sapphire Rapids): packing Q8_0 at load, off the
  // first token's path, is a lead (docs/architecture-notes.md).
  std::vector<Matrix*> pack_now;
  auto attach_or_defer = [&](Matrix& m) {
    step_weight_bytes_ += double(m.rows) * double(row_bytes(m.type, m.cols));
    if (m.type == GGML_Q8_0 && vector_variant(auto_variant()) == Variant::Avx512 && m.rows >= kPackRows) deferred_packs_.push_back(&m);
    else pack_now.push_back(&m);
  };
  attach_or_defer(w_.output);
  for (LayerWeights& L : w_.layers) {
    for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down, &L.moe.router,
                      &L.moe.shared_gate_inp, &L.moe.shared_gate, &L.moe.shared_up, &L.moe.shared_down}) {
      if (!m->data) continue;  // the FFN a layer does not have
      attach_or_defer(*m);
      m->gemm_order = cfg.batch_arithmetic;
    }
    // Experts sum every row as a lone row in either arithmetic (llama.cpp's mul_mat_id: gemv / vec_dot per row).
    for (std::vector<Matrix>* experts : {&L.moe.gate, &L.moe.up, &L.moe.down}) {
      for (Matrix& m : *experts) attach_packed(m, pool);
      // Unpacked experts (the K-quants) move to 2 MiB pages: a batched step streams nearly all of them.
      if (w_.file_mapped && !experts->empty() && !(*experts)[0].packed) {
        const uint8_t* file_rows = (*experts)[0].data;
        expert_copies_.push_back(copy_experts(pool, *experts));
        release_pages(file_rows, expert_copies_.back().size());
      }
    }
  }
  packed_.attach_all(pack_now, pool, [this](Matrix& m) { after_packing(m); });
  // AVX2 estimates a Q8_0 head's batched argmax from its own rows, bounded by its largest block scale.
  head_scale_pending_ = vector_variant(auto_variant()) == Variant::Avx2 && w_.output.type == GGML_Q8_0;
  // A float head: greedy steps estimate with a Q8_0 copy (argmax of soft-capped logits never reads it). Its
  // chunks start after the packing above, which has the pool.
  if (!transforms_logits()) head_estimate_ = ShadowBuild::start(w_.output, w_.file_mapped);
  if (head_estimate_ && background_head_estimate)
    head_estimate_worker_ = std::thread([this] {
      lower_to_idle_priority();
      while (!stop_head_estimate_.load(std::memory_order_relaxed) && head_estimate_->make_chunk()) {}
    });
}

Transformer::~Transformer() { stop_head_estimate_worker(); }

void Transformer::attach_packed(Matrix& m, ThreadPool& pool) {
  packed_.attach(m, pool);
  after_packing(m);
}

void Transformer::after_packing(Matrix& m) {
  // The original's pages go as soon as its copy is made, so that the peak holds one original at most.
  if (w_.file_mapped && m.packed && packed_rows_complete(m.type))
    release_pages(m.data, size_t(m.rows / kPackRows * kPackRows) * row_bytes(m.type, m.cols));
  // A tied token embedding reads its rows back from the head's packed copy.
  if (&m == &w_.output && w_.token_embd.data == w_.output.data) w_.token_embd.packed = w_.output.packed;
}

void Transformer::pack_deferred(ThreadPool& pool) {
  packed_.attach_all(deferred_packs_, pool, [this](Matrix& m) { after_packing(m); });
  deferred_packs_.clear();
}

void Transformer::count_batch_rows(ThreadPool& pool, int n_tokens) {
  if (deferred_packs_.empty() || n_tokens < 2) return;
  batch_rows_seen_ += n_tokens;
  if (batch_rows_seen_ >= kPackAfterBatchRows) pack_deferred(pool);
}

void Transformer::stop_head_estimate_worker() {
  stop_head_estimate_.store(true, std::memory_order_relaxed);
  if (head_estimate_worker_.joinable()) head_estimate_worker_.join();
}

void Transformer::finish_head_estimate(ThreadPool& pool) {
  if (!head_estimate_) return;
  head_estimate_->finish(pool);
  stop_head_estimate_worker();  // its loop has ended: no chunk was left
  packed_.attach_argmax_shadow(w_.output, *head_estimate_);
  head_estimate_.reset();
  // Greedy steps read only their candidates' rows of the head (the chunks released theirs, this the pages between).
  if (w_.file_mapped) release_pages(w_.output.data, size_t(w_.output.rows) * row_bytes(w_.output.type, w_.output.cols));
}

void Transformer::scale_head_for_estimate(ThreadPool& pool, const StepBatch& b) {
  if (!head_scale_pending_ || !b.argmax || b.n_logit_rows < 2) return;
  head_scale_pending_ = false;
  Matrix& h = w_.output;
  const int parts = pool.size();
  std::vector<float> part_max(size_t(parts), 0.0f);
  pool.parallel_for(parts, [&](int p, int) {
    const int64_t r0 = h.rows * p / parts, r1 = h.rows * (p + 1) / parts;
    part_max[size_t(p)] = q8_0_max_abs_scale(h.data + size_t(r0) * row_bytes(h.type, h.cols), r1 - r0, h.cols);
  });
  h.max_abs_scale = *std::max_element(part_max.begin(), part_max.end());
}

void Transformer::set_draft_head(std::vector<int32_t> token_ids, ThreadPool& pool) {
  if (!token_ids.empty())
    while (token_ids.size() % kPackRows != 0) token_ids.push_back(token_ids.back());
  draft_head_.set(w_.output, token_ids, pool);
}

bool Transformer::share_head_with(Transformer& target, ThreadPool& pool) {
  target.finish_head_estimate(pool);
  pack_deferred(pool);  // the head's packed copy is what is compared and shared
  Matrix& head = w_.output;
  const Matrix& theirs = target.w_.output;
  if (head.type != GGML_Q8_0 || !head.packed || !theirs.shadow || head.rows != theirs.rows || head.cols != theirs.cols) return false;
  const uint8_t* own = head.packed;
  if (std::memcmp(own, theirs.shadow->packed, packed_bytes(GGML_Q8_0, head.rows, head.cols)) != 0) return false;
  head.packed = theirs.shadow->packed;
  if (w_.token_embd.packed == own) w_.token_embd.packed = head.packed;  // a tied head's lookups read the shared copy
  packed_.release(own);
  return true;
}

std::string Transformer::validate(const StepBatch& b, const KvPool& kv) const {
  if (b.n_tokens <= 0) return "the batch has no tokens";
  if (cfg_.head_dim > kMaxHeadDim) return "head size " + std::to_string(cfg_.head_dim) + " exceeds " + std::to_string(kMaxHeadDim);
  if (kv.type() == KvType::Q8_0 && cfg_.head_dim % QK8_0 != 0) return "a q8_0 KV cache needs a head size divisible by 32";
  if (kv.n_layer() != cfg_.n_layer || kv.kv_dim() != cfg_.n_head_kv * cfg_.head_dim)
    return "the KV cache was made for a different model";
  for (int s = 0; s < b.n_seqs; s++)
    if (b.table_offsets[s] < 0 || b.table_offsets[s + 1] < b.table_offsets[s]) return "bad block table offsets";
  const int bs = kv.block_size();
  for (int i = 0; i < b.n_tokens; i++) {
    if (b.tokens[i] < 0 || b.tokens[i] >= cfg_.n_vocab) return "token id " + std::to_string(b.tokens[i]) + " is outside the vocabulary";
    const int s = b.seq_ids[i];
    if (s < 0 || s >= b.n_seqs) return "sequence index out of range";
    if (b.positions[i] < 0) return "negative position";
    const int n_blocks = b.table_offsets[s + 1] - b.table_offsets[s];
    if (b.positions[i] / bs >= n_blocks) return "position " + std::to_string(b.positions[i]) + " lies beyond its block table";
  }
  for (int s = 0; s < b.n_seqs; s++)
    for (int j = b.table_offsets[s]; j < b.table_offsets[s + 1]; j++)
      if (b.block_tables[j] < 0 || b.block_tables[j] >= kv.n_blocks()) return "block id out of range";
  if (kv.has_window_group()) {
    const std::string problem = validate_window_tables(b, kv);
    if (!problem.empty()) return problem;
  }
  if (b.n_layers < 0 || b.n_layers > cfg_.n_layer) return "nLayers must be from 0 to " + std::to_string(cfg_.n_layer);
  for (int e = 0; e < b.exit.n; e++)
    if (b.exit.layers[e] < 1 || b.exit.layers[e] >= cfg_.n_layer || (e > 0 && b.exit.layers[e] <= b.exit.layers[e - 1]))
      return "exit layers must increase and lie in [1, " + std::to_string(cfg_.n_layer) + ")";
  for (int r = 0; r < b.n_logit_rows; r++)
    if (b.logit_rows[r] < 0 || b.logit_rows[r] >= b.n_tokens) return "logit row out of range";
  return "";
}

// The window tables of a pool whose window layers have blocks of their own: those layers must be the model's
// sliding-window layers, and every token must find the blocks its window reads (the ones before may be -1).
std::string Transformer::validate_window_tables(const StepBatch& b, const KvPool& kv) const {
  for (int l = 0; l < cfg_.n_layer; l++)
    if (kv.group(l) != (cfg_.family.swa(l) ? 1 : 0)) return "the KV cache's window layers are not the model's sliding-window layers";
  if (!b.window_block_tables || !b.window_table_offsets) return "the KV cache keeps window layers apart: the batch needs windowBlockTables";
  for (int s = 0; s < b.n_seqs; s++)
    if (b.window_table_offsets[s] < 0 || b.window_table_offsets[s + 1] < b.window_table_offsets[s]) return "bad window table offsets";
  const int bs = kv.block_size();
  for (int i = 0; i < b.n_tokens; i++) {
    const int s = b.seq_ids[i], pos = b.positions[i];
    const int32_t* table = b.table(s, 1);
    const int n_blocks = b.window_table_offsets[s + 1] - b.window_table_offsets[s];
    if (pos / bs >= n_blocks) return "position " + std::to_string(pos) + " lies beyond its window table";
    for (int j = std::max(0, pos - cfg_.family.n_swa + 1) / bs; j <= pos / bs; j++)
      if (table[j] < 0 || table[j] >= kv.n_blocks(1)) return "window block id out of range at position " + std::to_string(pos);
  }
  return "";
}

// cos/sin of every rotated pair for each token's position, computed once per forward for all heads and layers,
// with llama.cpp's rope cache arithmetic (theta = base^(-2i/n) by repeated multiplication, freq_scale·(theta/ff)).
void Transformer::fill_rope_cache(const StepBatch& b, float base, float freq_scale, std::vector<float>& cache) const {
  const int nd = cfg_.rope_dim;
  const float theta_scale = std::pow(base, -2.0f / float(nd));
  cache.resize(size_t(b.n_tokens) * nd);
  for (int i = 0; i < b.n_tokens; i++) {
    float* cs = &cache[size_t(i) * nd];
    float theta = float(b.positions[i]);
    for (int i0 = 0; i0 < nd; i0 += 2) {
      const float ff = w_.rope_freqs ? w_.rope_freqs[i0 / 2] : 1.0f;
      const float t = freq_scale * (theta / ff);
      cs[i0] = std::cos(t) * cfg_.family.rope_attn_factor;  // as ggml's rope_yarn (mscale; ext_factor 0)
      cs[i0 + 1] = std::sin(t) * cfg_.family.rope_attn_factor;
      theta *= theta_scale;
    }
  }
}

namespace {

// Rotates the pairs of n_heads heads of one token by the token's cos/sin row. Fused as llama.cpp's prebuilt CPU
// libraries compile ggml's rotate_pairs (GCC contracts `x0*cos - x1*sin` into fma(x0, cos, -(x1*sin)) when FMA is
// enabled): one rounding fewer than the plain expression, and the f16 KV cache turns a last-bit difference here
// into visible logit drift.
struct RopeShape {
  int hd, nd;
  bool neox;
};

__attribute__((always_inline)) inline void rope_heads_body(float* x, int n_heads, const float* cs, RopeShape r) {
  for (int h = 0; h < n_heads; h++) {
    float* v = x + size_t(h) * r.hd;
    for (int i0 = 0; i0 < r.nd; i0 += 2) {
      const float c = cs[i0], s = cs[i0 + 1];
      const int a = r.neox ? i0 / 2 : i0;
      const int bi = r.neox ? i0 / 2 + r.nd / 2 : i0 + 1;
      const float x0 = v[a], x1 = v[bi];
      v[a] = __builtin_fmaf(x0, c, -(x1 * s));
      v[bi] = __builtin_fmaf(x0, s, x1 * c);
    }
  }
}

void rope_heads_portable(float* x, int n_heads, const float* cs, RopeShape r) { rope_heads_body(x, n_heads, cs, r); }

#if defined(__x86_64__)
// The same operations with the fused multiply-add as an instruction (the portable build calls libm's fmaf).
__attribute__((target("fma"))) void rope_heads_fma(float* x, int n_heads, const float* cs, RopeShape r) {
  rope_heads_body(x, n_heads, cs, r);
}
#endif

using RopeHeadsFn = void (*)(float*, int, const float*, RopeShape);
const RopeHeadsFn rope_heads = [] {
#if defined(__x86_64__)
  if (cpu_features().fma) return rope_heads_fma;
#endif
  return rope_heads_portable;
}();

}  // namespace

// The sliding-window layers' own RoPE cache exists only when their base or scale differs (fill_rope_caches).
void Transformer::rope(const Activations& a, float* x, int n_heads, int token, int layer) const {
  const std::vector<float>& cache = cfg_.family.swa(layer) && !a.rope_cache_swa.empty() ? a.rope_cache_swa : a.rope_cache;
  rope_heads(x, n_heads, &cache[size_t(token) * cfg_.rope_dim], {cfg_.head_dim, cfg_.rope_dim, cfg_.rope_neox});
}

void Transformer::attention(ThreadPool& pool, const KvPool& kv, int layer, const StepBatch& b, Activations& a) {
  const int hd = cfg_.head_dim, nh = cfg_.n_head, group = cfg_.n_head / cfg_.n_head_kv, q_dim = nh * hd;
  const FamilyConfig& fam = cfg_.family;
  // llama.cpp's kq_scale (1 where Q was scaled already), divided by the soft-cap as its flash attention does.
  float scale = fam.q_scale != 0 ? 1.0f : fam.attn_scale != 0 ? fam.attn_scale : 1.0f / std::sqrt(float(hd));
  if (fam.attn_softcap != 0) scale /= fam.attn_softcap;
  const int window = fam.swa(layer) ? fam.n_swa : 0;
  // Tiles of up to kMaxTile consecutive tokens of one sequence (a prompt's tokens share their K reads), each with
  // its heads in passes of several (their sequential softmax chains overlap). Tiles run last to first: a prompt's
  // last tokens attend to the most positions, and starting them first evens out the threads' work.
  // A tile's queries share one arithmetic.
  a.tiles.clear();
  for (int i = 0; i < b.n_tokens;) {
    int n = 1;
    while (n < kMaxTile && i + n < b.n_tokens && b.seq_ids[i + n] == b.seq_ids[i] && b.positions[i + n] == b.positions[i] + n &&
           ((a.flags[size_t(i + n)] ^ a.flags[size_t(i)]) & kRowTiledAttention) == 0)
      n++;
    a.tiles.push_back({i, n});
    i += n;
  }
  const int n_tiles = int(a.tiles.size());
  // Fewer heads per pass while there would be fewer than two tasks per thread (a single sequence's decode), down
  // to pairs.
  int per_pass = std::min(nh, heads_per_pass(hd));
  while (per_pass > 2 && n_tiles * ((nh + per_pass - 1) / per_pass) < 2 * pool.size()) per_pass = std::max(2, per_pass / 2);
  const int passes = (nh + per_pass - 1) / per_pass;
  pool.parallel_for(n_tiles * passes, [&](int task, int) {
    const Tile tile = a.tiles[size_t(n_tiles - 1 - task / passes)];
    const int h0 = per_pass * (task % passes), n_heads = std::min(per_pass, nh - h0), last = tile.first + tile.count - 1;
    const int32_t* table = b.table(b.seq_ids[last], kv.group(layer));
    HeadAttention heads[kMaxHeadGroup];
    for (int h = 0; h < n_heads; h++)
      heads[h] = {&kv, layer, table, b.positions[last] + 1, ((h0 + h) / group) * hd, hd, scale,
                  (a.flags[size_t(last)] & kRowTiledAttention) != 0, window, fam.attn_softcap};
    const size_t first = size_t(tile.first) * q_dim + size_t(h0) * hd;
    attend_tile(heads, n_heads, tile.count, a.q.data() + first, q_dim, a.att.data() + first, q_dim);
  });
}

void Transformer::forward(ThreadPool& pool, KvPool& kv, const StepBatch& b) {
  finish_head_estimate(pool);
  scale_head_for_estimate(pool, b);
  count_batch_rows(pool, b.n_tokens);
  if (splits_by_sequence(pool, b)) return forward_by_sequence(pool, kv, b);
  run(pool, kv, b, main_);
}

// Rows each part of a split step needs. With two threads, splitting measured faster from 8 sequences on (4,400
// against 3,300-4,000 tokens/s; 16: 5,200-5,600 against 5,000) and no better below (2 rows a part: even at 4-6
// sequences), where a forward that splits each matmul's weight rows streams the weights once instead of per thread.
constexpr int kMinRowsPerPart = 4;
// Each part reads every weight matrix for itself, so a split step streams the weights once per part. Where they
// are large, that costs more than a batched forward's ~100 parallel sections, until each part has this many rows
// to share every weight byte it reads (Sapphire Rapids, two threads, CPU per step unsplit/split: Llama-3.2-1B
// Q4_K_M 16 sequences 0.85, 8 sequences 0.66, 32 sequences 0.99; Qwen2.5-0.5B Q4_K_M 16 0.84, 32 1.00; Qwen3-0.6B
// Q4_K_M 16 0.91, 32 1.06; the same with the AMX tiles off: it is the weights' traffic, not the kernel).
constexpr int kSharedWeightRows = 16;
// Below this many weight bytes a step (a forward's matrices, the head included) splits at any row count: the
// weights stay in the caches, the sections' barriers are what costs (SmolLM2-135M Q4_K_M, ~105 MB: 16 sequences
// unsplit/split 1.15; Qwen2.5-0.5B and Qwen3-0.6B Q4_K_M are ~400 MB).
constexpr double kSplitAlwaysBytes = 256e6;

// Whether this step runs as independent forwards over parts of its rows: a decode step (each sequence's one
// token, every row's logits or argmax in row order, no early exit, whose test spans all rows) of enough rows.
// Every row's arithmetic is then what the batched forward does (the kernels' per-row results do not depend on the
// other rows, and each part still has several rows, as the float matmuls' order requires), each token writes only
// its own slot and attends only to its own sequence's blocks.
bool Transformer::splits_by_sequence(const ThreadPool& pool, const StepBatch& b) {
  const int parts = pool.size();
  // A mixture of experts groups the step's tokens by expert, so that each chosen expert's weights are read once
  // for all its tokens; parts would each read the experts of their own tokens, most of them the same ones.
  if (cfg_.moe.n_expert > 0) return false;
  if (parts < 2 || b.n_tokens < kMinRowsPerPart * parts || b.exit.n > 0 || b.n_tokens != b.n_seqs || b.n_logit_rows != b.n_tokens) return false;
  if (b.n_tokens < kSharedWeightRows * parts && step_weight_bytes_ >= kSplitAlwaysBytes) return false;
  for (int r = 0; r < b.n_logit_rows; r++)
    if (b.logit_rows[r] != r) return false;
  seen_seqs_.assign(size_t(b.n_seqs), 0);
  for (int i = 0; i < b.n_tokens; i++) {
    if (seen_seqs_[size_t(b.seq_ids[i])]) return false;
    seen_seqs_[size_t(b.seq_ids[i])] = 1;
  }
  return true;
}

// One forward per pool thread, each over a contiguous share of the rows with its own buffers and a one-thread
// pool: no parallel section inside. A 32-sequence decode step of stories15M's Q8_0 file spends much of its time
// in the ~40 parallel sections of a batched forward (their barriers, and the norms and conversions the calling
// thread runs alone between them): one thread decodes 16 sequences at ~4,550 tokens/s, two threads 32 at ~6,800.
void Transformer::forward_by_sequence(ThreadPool& pool, KvPool& kv, const StepBatch& b) {
  const int parts = pool.size(), T = b.n_tokens, width = logits_width(b);
  while (int(lanes_.size()) < parts) lanes_.push_back(std::make_unique<Lane>());
  pool.parallel_for(parts, [&](int part, int thread) {
    const int from = int(int64_t(T) * part / parts), to = int(int64_t(T) * (part + 1) / parts);
    StepBatch s = b;
    s.n_tokens = s.n_logit_rows = to - from;
    s.tokens = b.tokens + from;
    s.positions = b.positions + from;
    s.seq_ids = b.seq_ids + from;
    // b.logit_rows is 0, 1, 2, ... (splits_by_sequence), so its start serves every part.
    if (b.logits) s.logits = b.logits + size_t(from) * size_t(width);
    if (b.argmax) s.argmax = b.argmax + from;
    if (b.exit.layers_used) s.exit.layers_used = b.exit.layers_used + from;
    if (b.row_arithmetic) s.row_arithmetic = b.row_arithmetic + from;
    Lane& lane = *lanes_[size_t(thread)];
    run(lane.pool, kv, s, lane.a);
  });
}

void Transformer::run(ThreadPool& pool, KvPool& kv, const StepBatch& b, Activations& a) {
  const int T = b.n_tokens, d = cfg_.n_embd, hd = cfg_.head_dim;
  // A mixture-of-experts model has no dense FFN (its experts' buffers are in a.moe).
  const int q_dim = cfg_.n_head * hd, kv_dim = cfg_.n_head_kv * hd, ff = cfg_.moe.n_expert > 0 ? 0 : cfg_.n_ff;
  a.x.resize(size_t(T) * d); a.xn.resize(size_t(T) * std::max(d, ff));
  a.q.resize(size_t(T) * q_dim); a.k.resize(size_t(T) * kv_dim); a.v.resize(size_t(T) * kv_dim);
  a.att.resize(size_t(T) * q_dim); a.proj.resize(size_t(T) * d);
  a.gate.resize(size_t(T) * ff); a.up.resize(size_t(T) * ff);

  if (b.row_arithmetic) a.flags.assign(b.row_arithmetic, b.row_arithmetic + T);
  else a.flags.assign(size_t(T), cfg_.batch_arithmetic ? kRowMatmulOrders | kRowTiledAttention | kRowOutputGemmOrder : 0);
  a.gemm_rows.resize(size_t(T));
  for (int i = 0; i < T; i++) a.gemm_rows[size_t(i)] = a.flags[size_t(i)] & kRowMatmulOrders;
  fill_rope_cache(b, cfg_.rope_base, cfg_.rope_freq_scale, a.rope_cache);
  const FamilyConfig& fam = cfg_.family;
  a.rope_cache_swa.clear();
  if (fam.n_swa > 0 && (fam.rope_base_swa != cfg_.rope_base || fam.rope_freq_scale_swa != cfg_.rope_freq_scale))
    fill_rope_cache(b, fam.rope_base_swa, fam.rope_freq_scale_swa, a.rope_cache_swa);
  const size_t embd_row = row_bytes(w_.token_embd.type, d);
  for (int i = 0; i < T; i++) {
    const uint8_t* row = w_.token_embd.data + embd_row * size_t(b.tokens[i]);
    if (w_.token_embd.packed) {
      a.embd_row.resize(embd_row);
      read_row(w_.token_embd, b.tokens[i], a.embd_row.data());
      row = a.embd_row.data();
    }
    dequantize_row(w_.token_embd.type, row, &a.x[size_t(i) * d], d);
  }
  if (fam.embd_scale != 0) scale(a.x.data(), int64_t(T) * d, fam.embd_scale);

  const int n_run = b.n_layers > 0 ? b.n_layers : cfg_.n_layer;
  for (int l = 0; l < n_run; l++) {
    const LayerWeights& L = w_.layers[size_t(l)];
    for (int i = 0; i < T; i++) rmsnorm(&a.x[size_t(i) * d], L.attn_norm, d, cfg_.rms_eps, &a.xn[size_t(i) * d]);
    {
      const Matrix* ws[3] = {&L.wq, &L.wk, &L.wv};
      float* ys[3] = {a.q.data(), a.k.data(), a.v.data()};
      matmul_shared_input(pool, ws, ys, 3, a.xn.data(), T, a.gemm_rows.data());
    }
    add_bias(a.q.data(), L.bq, T, q_dim);
    add_bias(a.k.data(), L.bk, T, kv_dim);
    add_bias(a.v.data(), L.bv, T, kv_dim);
    // Q norm and rope, then K norm, rope and the KV write, for chunks of tokens in parallel (each token writes
    // its own slot). A chunk is a KV block's worth of tokens: a prompt's consecutive positions then fill one
    // block from one thread (the transposed f16 K puts a block's 16 slots of a dimension in one cache line).
    const int chunk = kv.block_size();
    pool.parallel_for((T + chunk - 1) / chunk, [&](int task, int) {
      const int from = task * chunk, to = std::min(T, from + chunk);
      for (int i = from; i < to; i++) {
        float* q = &a.q[size_t(i) * q_dim];
        if (L.q_norm && cfg_.qk_norm_full) rmsnorm(q, L.q_norm, q_dim, cfg_.rms_eps, q);
        else if (L.q_norm) for (int h = 0; h < cfg_.n_head; h++) rmsnorm(q + h * hd, L.q_norm, hd, cfg_.rms_eps, q + h * hd);
        rope(a, q, cfg_.n_head, i, l);
        if (fam.q_scale != 0) scale(q, q_dim, fam.q_scale);
      }
      write_kv(kv, b, l, L, from, to, a);
    });
    attention(pool, kv, l, b, a);
    {
      const Matrix* wo = &L.wo;
      float* y = a.proj.data();
      matmul_shared_input(pool, &wo, &y, 1, a.att.data(), T, a.gemm_rows.data());
    }
    // The last layer continues with the logit rows only; the attention output's rows go along (as llama.cpp's
    // inp_out_ids takes both) when a post-norm comes between it and the residual add.
    const int rows = l == n_run - 1 ? keep_logit_rows(b, a) : T;
    add_block_output(a, L.attn_post_norm, rows);
    if (rows == 0) break;  // no logits wanted: nothing reads the last feed-forward
    const uint8_t* ffn_gemm = rows < T ? a.out_flags.data() : a.gemm_rows.data();
    for (int i = 0; i < rows; i++) rmsnorm(&a.x[size_t(i) * d], L.ffn_norm, d, cfg_.rms_eps, &a.xn[size_t(i) * d]);
    if (L.moe.present()) {
      moe_ffn(pool, cfg_.moe, L.moe, a.xn.data(), rows, d, a.proj.data(), a.moe, ffn_gemm);
    } else {
      const Matrix* ws[2] = {&L.ffn_gate, &L.ffn_up};
      float* ys[2] = {a.gate.data(), a.up.data()};
      matmul_shared_input(pool, ws, ys, 2, a.xn.data(), rows, ffn_gemm);
      if (fam.gelu) geglu(a.gate.data(), a.up.data(), a.xn.data(), int64_t(rows) * ff);
      else swiglu(a.gate.data(), a.up.data(), a.xn.data(), int64_t(rows) * ff);
      const Matrix* down = &L.ffn_down;
      float* y = a.proj.data();
      matmul_shared_input(pool, &down, &y, 1, a.xn.data(), rows, ffn_gemm);
    }
    add_block_output(a, L.ffn_post_norm, rows);
    if (try_exit(pool, kv, b, l + 1, a)) return;
  }
  if (b.exit.layers_used) for (int r = 0; r < b.n_logit_rows; r++) b.exit.layers_used[r] = n_run;

  if (b.n_logit_rows == 0) return;
  a.head_in.resize(size_t(b.n_logit_rows) * d);
  for (int r = 0; r < b.n_logit_rows; r++)
    rmsnorm(&a.x[size_t(b.n_logit_rows < T ? r : b.logit_rows[r]) * d], w_.output_norm, d, cfg_.rms_eps, &a.head_in[size_t(r) * d]);
  const bool reduced = uses_draft_head(b);
  const Matrix& head = reduced ? draft_head_.matrix() : w_.output;
  if (b.n_logit_rows >= T) {
    a.out_flags.resize(size_t(b.n_logit_rows));
    for (int r = 0; r < b.n_logit_rows; r++) a.out_flags[size_t(r)] = a.gemm_rows[size_t(b.logit_rows[r])];
  }
  const Matrix* head_matrix = &head;
  if (!b.argmax) {
    float* y = b.logits;
    matmul_shared_input(pool, &head_matrix, &y, 1, a.head_in.data(), b.n_logit_rows, a.out_flags.data());
    return finish_logits(b.logits, b.n_logit_rows, head.rows);
  }
  if (transforms_logits()) {
    // A soft-cap can make distinct logits equal (the first of equal maxima wins): the argmax of the final values.
    a.head_out.resize(size_t(b.n_logit_rows) * head.rows);
    float* y = a.head_out.data();
    matmul_shared_input(pool, &head_matrix, &y, 1, a.head_in.data(), b.n_logit_rows, a.out_flags.data());
    finish_logits(a.head_out.data(), b.n_logit_rows, head.rows);
    for (int r = 0; r < b.n_logit_rows; r++) {
      const float* row = &a.head_out[size_t(r) * head.rows];
      b.argmax[r] = int32_t(std::max_element(row, row + head.rows) - row);
    }
  } else {
    matmul_argmax(pool, head, a.head_in.data(), b.n_logit_rows, b.argmax, a.out_flags.data());
  }
  if (reduced)
    for (int r = 0; r < b.n_logit_rows; r++) b.argmax[r] = b.argmax[r] < 0 ? -1 : draft_head_.token(b.argmax[r]);
}

// x += the block output in a.proj (rows of it): RMSNorm'd first where the layer has a post-norm (gemma), times the
// residual scale where the family has one (granite).
void Transformer::add_block_output(Activations& a, const float* post_norm, int rows) const {
  const int d = cfg_.n_embd;
  if (post_norm)
    for (int i = 0; i < rows; i++) rmsnorm(&a.proj[size_t(i) * d], post_norm, d, cfg_.rms_eps, &a.proj[size_t(i) * d]);
  if (cfg_.family.residual_scale != 0) scale(a.proj.data(), int64_t(rows) * d, cfg_.family.residual_scale);
  for (size_t j = 0; j < size_t(rows) * d; j++) a.x[j] += a.proj[j];
}

bool Transformer::transforms_logits() const { return cfg_.family.final_softcap != 0 || cfg_.family.logit_scale != 0; }

void Transformer::finish_logits(float* logits, int rows, int width) const {
  const int64_t n = int64_t(rows) * width;
  if (cfg_.family.logit_scale != 0) scale(logits, n, 1.0f / cfg_.family.logit_scale);
  if (cfg_.family.final_softcap != 0) softcap(logits, n, cfg_.family.final_softcap);
}

// Before the last layer's residual add: when fewer rows want logits than the batch has tokens, keeps only
// those rows, moved to the front of a.x and a.proj in output order, and returns their number (else the token count).
// llama.cpp does the same (its inp_out_ids), so that layer's matmuls see as many rows as llama.cpp's and take
// the same summation path (one row: the vec_dot order, not the tiled one). Nothing after that layer reads the
// dropped rows: their K/V is already written, and an early exit needs every row's logits.
int Transformer::keep_logit_rows(const StepBatch& b, Activations& a) {
  const int d = cfg_.n_embd, n = b.n_logit_rows;
  if (n >= b.n_tokens) return b.n_tokens;
  a.out_flags.resize(size_t(n));
  for (int r = 0; r < n; r++) {
    const uint8_t flags = a.flags[size_t(b.logit_rows[r])];
    a.out_flags[size_t(r)] = (flags & kRowOutputGemmOrder) ? flags & kRowMatmulOrders : 0;
  }
  a.head_in.resize(size_t(n) * d);
  for (std::vector<float>* rows : {&a.x, &a.proj}) {
    for (int r = 0; r < n; r++) std::copy_n(&(*rows)[size_t(b.logit_rows[r]) * d], d, &a.head_in[size_t(r) * d]);
    std::copy(a.head_in.begin(), a.head_in.end(), rows->begin());
  }
  return n;
}

// K and V of tokens [from, to)'s current a.k/a.v projections for one layer: K/V norm, rope, then into the paged pool.
void Transformer::write_kv(KvPool& kv, const StepBatch& b, int layer, const LayerWeights& L, int from, int to, Activations& a) {
  const int hd = cfg_.head_dim, kv_dim = cfg_.n_head_kv * hd;
  for (int i = from; i < to; i++) {
    float* k = &a.k[size_t(i) * kv_dim];
    if (L.k_norm && cfg_.qk_norm_full) rmsnorm(k, L.k_norm, kv_dim, cfg_.rms_eps, k);
    else if (L.k_norm) for (int h = 0; h < cfg_.n_head_kv; h++) rmsnorm(k + h * hd, L.k_norm, hd, cfg_.rms_eps, k + h * hd);
    rope(a, k, cfg_.n_head_kv, i, layer);
    const int32_t* table = b.table(b.seq_ids[i], kv.group(layer));
    const int pos = b.positions[i];
    kv.write(layer, table[pos / kv.block_size()], pos % kv.block_size(), k, &a.v[size_t(i) * kv_dim]);
  }
}

}  // namespace ir
