#include "kv_pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace ir {

void quantize_q8_0(const float* x, block_q8_0* out, int n) {
  for (int b = 0; b < n / QK8_0; b++) {
    const float* xb = x + b * QK8_0;
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; j++) out[b].qs[j] = int8_t(std::nearbyint(xb[j] * id));
  }
}

KvPool::KvPool(int n_layer, int n_blocks, int block_size, int kv_dim, KvType type, const std::vector<uint8_t>& window_layers,
               int n_window_blocks)
    : n_layer_(n_layer), block_size_(block_size), kv_dim_(kv_dim), type_(type), elt_size_(type == KvType::F32 ? 4 : 2),
      group_of_(size_t(n_layer), 0), index_(size_t(n_layer)) {
  if (type == KvType::Q8_0 && kv_dim % QK8_0 != 0) throw std::invalid_argument("a q8_0 KV cache needs kv_dim divisible by 32");
  if (!window_layers.empty() && int(window_layers.size()) != n_layer) throw std::invalid_argument("windowLayers needs one flag per layer");
  for (int l = 0; l < n_layer; l++) {
    const int g = !window_layers.empty() && window_layers[size_t(l)] ? 1 : 0;
    group_of_[size_t(l)] = uint8_t(g);
    index_[size_t(l)] = groups_[g].n_layer++;
  }
  if (groups_[0].n_layer == 0) throw std::invalid_argument("a KV cache needs at least one layer outside the window layers");
  if (groups_[1].n_layer > 0 && n_window_blocks < 1) throw std::invalid_argument("a KV cache with window layers needs window blocks");
  row_bytes_ = bytes_for(kv_dim);
  groups_[0].n_blocks = n_blocks;
  groups_[1].n_blocks = groups_[1].n_layer > 0 ? n_window_blocks : 0;
  const size_t per_layer_block = block_size * row_bytes_ * 2;
  groups_[1].base = size_t(groups_[0].n_layer) * size_t(n_blocks) * per_layer_block;
  const size_t bytes = groups_[1].base + size_t(groups_[1].n_layer) * size_t(groups_[1].n_blocks) * per_layer_block;
  try {
    mem_ = AnonymousMemory(bytes);
  } catch (const std::bad_alloc&) {
    throw std::runtime_error("the KV cache needs " + std::to_string(bytes >> 20) + " MiB, more memory than the system grants (lower the KV memory budget)");
  }
}

// Layout of each group: [block][layer of the group][K|V][slot][kv_dim] (F16 K: [dim][slot]), group 1 after group 0.
// One block of one layer is contiguous for attention, and all of a block is: a new request's first blocks share a
// few huge pages instead of touching a page in every layer's region of the pool.
size_t KvPool::slot_offset(int layer, int block, int slot, bool is_v) const {
  const size_t half = row_bytes_ * block_size_;
  const Group& g = groups_[group_of_[size_t(layer)]];
  return g.base + ((size_t(block) * g.n_layer + index_[size_t(layer)]) * 2 + (is_v ? 1 : 0)) * half + size_t(slot) * row_bytes_;
}

void KvPool::store(size_t off, const float* x) {
  switch (type_) {
    case KvType::F32: std::memcpy(&mem_.data()[off], x, size_t(kv_dim_) * 4); break;
    case KvType::F16: fp32_to_fp16_row(x, reinterpret_cast<uint16_t*>(&mem_.data()[off]), kv_dim_); break;
    case KvType::Q8_0: quantize_q8_0(x, reinterpret_cast<block_q8_0*>(&mem_.data()[off]), kv_dim_); break;
  }
}

void KvPool::store_transposed(size_t block_off, int slot, const float* x) {
  thread_local std::vector<uint16_t> h;
  h.resize(size_t(kv_dim_));
  fp32_to_fp16_row(x, h.data(), kv_dim_);
  auto* o = reinterpret_cast<uint16_t*>(&mem_.data()[block_off]) + slot;
  for (int i = 0; i < kv_dim_; i++) o[size_t(i) * block_size_] = h[size_t(i)];
}

void KvPool::write(int layer, int block, int slot, const float* k, const float* v) {
  if (k_transposed()) store_transposed(slot_offset(layer, block, 0, false), slot, k);
  else store(slot_offset(layer, block, slot, false), k);
  store(slot_offset(layer, block, slot, true), v);
}

void KvPool::copy_block(int src, int dst, int group) {
  const Group& g = groups_[group];
  const size_t block_bytes = row_bytes_ * block_size_ * 2 * size_t(g.n_layer);
  std::memcpy(&mem_.data()[g.base + size_t(dst) * block_bytes], &mem_.data()[g.base + size_t(src) * block_bytes], block_bytes);
}

}  // namespace ir
