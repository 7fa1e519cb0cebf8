// The paged KV store: for every layer, K and V for `n_blocks` blocks of `block_size` token slots.
// Which sequence owns which block is decided in TypeScript (the BlockManager); native code only reads and
// writes slots through the block tables it is handed, after checking every index.
#pragma once
#include <cstdint>
#include <vector>

#include "../anonymous_memory.h"
#include "../ggml_types.h"

namespace ir {

// Element type of the stored K/V. Q8_0 stores each run of 32 values as int8 with one f16 scale (as llama.cpp's
// q8_0 cache type), so a head's size must be a multiple of 32.
enum class KvType { F32, F16, Q8_0 };

// With window_layers (one flag per layer, some but not all set), the flagged (sliding-window) layers keep their
// K/V in blocks of their own, n_window_blocks of them, addressed through separate block tables (llama.cpp's iSWA
// cache): group 1; the other layers are group 0, n_blocks blocks. A block id names a block of its layer's group.
class KvPool {
 public:
  KvPool(int n_layer, int n_blocks, int block_size, int kv_dim, KvType type, const std::vector<uint8_t>& window_layers = {},
         int n_window_blocks = 0);

  int n_layer() const { return n_layer_; }
  // Blocks of a group (0: the main blocks, 1: the window layers').
  int n_blocks(int group = 0) const { return groups_[group].n_blocks; }
  // Which blocks (and so which block tables) a layer's K/V lives in.
  int group(int layer) const { return group_of_[size_t(layer)]; }
  bool has_window_group() const { return groups_[1].n_layer > 0; }
  int block_size() const { return block_size_; }
  int kv_dim() const { return kv_dim_; }
  KvType type() const { return type_; }
  size_t bytes() const { return mem_.size(); }

  // Stores one token's K and V (kv_dim floats each) for a layer at (block, slot).
  void write(int layer, int block, int slot, const float* k, const float* v);
  // F16 K is stored transposed within each block, [dim][slot], so that attention reads the block's positions
  // of one dimension as one contiguous vector (the scores vectorize across positions without transposing).
  bool k_transposed() const { return type_ == KvType::F16; }
  // Stride in elements between consecutive dimensions of one token's K: 1, or block_size when transposed.
  int k_dim_stride() const { return k_transposed() ? block_size_ : 1; }
  // Bytes from one slot's K to the next slot's within a block, and the same for V.
  size_t k_slot_stride() const { return k_transposed() ? elt_size_ : row_bytes_; }
  size_t v_slot_stride() const { return row_bytes_; }
  // Raw pointer to a token's first K element or its V row (kv_dim elements of the pool's type) at (layer,
  // block, slot); K's dimensions then follow at k_dim_stride().
  const uint8_t* k_row(int layer, int block, int slot) const {
    return k_transposed() ? &mem_.data()[slot_offset(layer, block, 0, false) + size_t(slot) * elt_size_] : &mem_.data()[slot_offset(layer, block, slot, false)];
  }
  const uint8_t* v_row(int layer, int block, int slot) const { return &mem_.data()[slot_offset(layer, block, slot, true)]; }
  // Bytes that `n` leading elements of a row take (n a multiple of 32 for Q8_0); for a transposed K, multiply by
  // k_dim_stride() to skip n dimensions.
  size_t bytes_for(int n) const { return type_ == KvType::Q8_0 ? size_t(n / QK8_0) * sizeof(block_q8_0) : size_t(n) * elt_size_; }
  // Copies the slots of block `src` of a group to its block `dst`, every layer of the group (copy-on-write).
  void copy_block(int src, int dst, int group = 0);

 private:
  struct Group {
    int n_layer = 0, n_blocks = 0;
    size_t base = 0;  // byte offset of the group's blocks in mem_
  };
  size_t slot_offset(int layer, int block, int slot, bool is_v) const;
  void store(size_t off, const float* x);
  void store_transposed(size_t block_off, int slot, const float* x);

  int n_layer_, block_size_, kv_dim_;
  Group groups_[2];
  std::vector<uint8_t> group_of_;  // per layer
  std::vector<int> index_;         // per layer: its index among its group's layers
  KvType type_;
  size_t elt_size_;  // bytes per element for F32/F16
  size_t row_bytes_;
  // Anonymous memory in transparent huge pages, touched as blocks are first written (a zero-filled vector wrote
  // all of a 256 MiB default pool at engine load; populating it in the background cost a short pipe run 0.2-0.4 s
  // of CPU for memory it never used).
  AnonymousMemory mem_;
};

// Quantizes n floats (a multiple of 32) to q8_0 blocks: per block, scale = max|x| / 127, values rounded to nearest.
void quantize_q8_0(const float* x, block_q8_0* out, int n);

}  // namespace ir
