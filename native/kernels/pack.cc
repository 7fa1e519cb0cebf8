#include "pack.h"

#include "../ggml_types.h"
#include "../mapped_file.h"
#include "quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ir {

namespace {
constexpr size_t kAlign = 64;
constexpr size_t kScaleBytes = kPackRows * sizeof(ggml_half);
}  // namespace

bool packable(int type) {
  return type == GGML_Q8_0 || type == GGML_Q4_0 || type == GGML_IQ4_NL || type == GGML_Q5_0 || type == GGML_Q5_1;
}

size_t packed_level_bytes(int type) {
  switch (type) {
    case GGML_Q8_0: return 8 * 64;
    case GGML_Q5_0: case GGML_Q5_1: return 4 * 64 + 8 * 8;
    default: return 4 * 64;
  }
}

size_t packed_scale_bytes(int type) { return type == GGML_Q5_1 ? 2 * kScaleBytes : kScaleBytes; }

size_t packed_group_bytes(int type, int64_t cols) {
  const size_t raw = size_t(cols / 32) * (packed_level_bytes(type) + packed_scale_bytes(type));
  return (raw + kAlign - 1) / kAlign * kAlign;
}

size_t packed_bytes(int type, int64_t rows, int64_t cols) {
  return size_t(rows / kPackRows) * packed_group_bytes(type, cols);
}

namespace {

// Where a Q5_0/Q5_1 block's 32 fifth bits start (its nibbles follow them): after d, and Q5_1's min m.
size_t fifth_bits_offset(int type) { return type == GGML_Q5_1 ? 4 : 2; }

// Row r's part of one block's packed levels (layout in pack.h). Whole 4-byte groups are copied at once: packing
// runs over every weight at load.
void pack_block_levels(int type, const uint8_t* blk, int r, uint8_t* levels) {
  auto put4 = [&](int vector, const uint8_t* from, uint32_t flip) {
    uint32_t q;
    std::memcpy(&q, from, 4);
    q ^= flip;
    std::memcpy(levels + 64 * vector + 4 * r, &q, 4);
  };
  switch (type) {
    case GGML_Q8_0:
      for (int v = 0; v < 8; v++) put4(v, blk + 2 + 4 * v, 0x80808080u);
      return;
    case GGML_Q5_0: case GGML_Q5_1: {
      const uint8_t* qh = blk + fifth_bits_offset(type);
      for (int v = 0; v < 4; v++) put4(v, qh + 4 + 4 * v, 0);
      // Mask i's bits 4r..4r+3 are bits 4i..4i+3 of qh: a nibble of mask byte r / 2 (a bit at a time made packing
      // a Q5_K_M file's Q5_0/Q5_1 tensors a second or more of load time).
      uint32_t bits;
      std::memcpy(&bits, qh, 4);
      for (int i = 0; i < 8; i++) levels[4 * 64 + 8 * i + r / 2] |= uint8_t(((bits >> (4 * i)) & 0xF) << (4 * (r % 2)));
      return;
    }
    default:  // Q4_0, IQ4_NL
      for (int v = 0; v < 4; v++) put4(v, blk + 2 + 4 * v, 0);
  }
}

}  // namespace

namespace {

// Packs groups [g0, g1) of a rows × cols matrix.
void pack_groups(int type, const uint8_t* src, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst) {
  const int64_t nb = cols / 32;
  const size_t src_row = row_bytes(type, cols), src_block = src_row / size_t(nb);
  const size_t level_bytes = packed_level_bytes(type), group_bytes = packed_group_bytes(type, cols);
  for (int64_t g = g0; g < g1; g++) {
    uint8_t* levels = dst + size_t(g) * group_bytes;
    uint8_t* scales = levels + size_t(nb) * level_bytes;
    uint8_t* mins = scales + size_t(nb) * kScaleBytes;  // Q5_1 only
    for (int r = 0; r < kPackRows; r++) {
      const uint8_t* row = src + size_t(g * kPackRows + r) * src_row;
      for (int64_t b = 0; b < nb; b++) {
        const uint8_t* blk = row + size_t(b) * src_block;  // every packable block starts with its f16 scale
        const size_t lane = size_t(b) * kScaleBytes + size_t(r) * sizeof(ggml_half);
        std::memcpy(scales + lane, blk, sizeof(ggml_half));
        if (type == GGML_Q5_1) std::memcpy(mins + lane, blk + 2, sizeof(ggml_half));
        pack_block_levels(type, blk, r, levels + size_t(b) * level_bytes);
      }
    }
  }
}

}  // namespace

void pack_matrix(int type, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst) {
  pack_groups(type, src, cols, 0, rows / kPackRows, dst);
}

void pack_matrix(ThreadPool& pool, int type, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst) {
  const int64_t groups = rows / kPackRows, per_task = 64;
  pool.parallel_for(int((groups + per_task - 1) / per_task), [&](int task, int) {
    const int64_t g0 = int64_t(task) * per_task;
    pack_groups(type, src, cols, g0, std::min(groups, g0 + per_task), dst);
  });
}

// unpack_row rebuilds the rows of every packed layout (a new layout must teach it before it joins packable).
bool packed_rows_complete(int type) { return packable(type); }

void unpack_row(int type, const uint8_t* packed, int64_t cols, int64_t r, uint8_t* dst) {
  const int64_t nb = cols / 32;
  const size_t dst_block = row_bytes(type, cols) / size_t(nb), level_bytes = packed_level_bytes(type);
  const uint8_t* levels = packed + size_t(r / kPackRows) * packed_group_bytes(type, cols);
  const uint8_t* scales = levels + size_t(nb) * level_bytes;
  const uint8_t* mins = scales + size_t(nb) * kScaleBytes;  // Q5_1 only
  const int lane = int(r % kPackRows);
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* blk = dst + size_t(b) * dst_block;
    const uint8_t* lv = levels + size_t(b) * level_bytes;
    auto get = [&](int vector, int j) { return lv[64 * vector + 4 * lane + j]; };
    const size_t at = size_t(b) * kScaleBytes + size_t(lane) * sizeof(ggml_half);
    std::memcpy(blk, scales + at, sizeof(ggml_half));
    if (type == GGML_Q5_1) std::memcpy(blk + 2, mins + at, sizeof(ggml_half));
    switch (type) {
      case GGML_Q8_0:
        for (int v = 0; v < 8; v++)
          for (int j = 0; j < 4; j++) blk[2 + 4 * v + j] = uint8_t(get(v, j) ^ 0x80);
        break;
      case GGML_Q5_0: case GGML_Q5_1: {
        uint8_t* qh = blk + fifth_bits_offset(type);
        for (int v = 0; v < 4; v++)
          for (int j = 0; j < 4; j++) qh[4 + 4 * v + j] = get(v, j);
        uint32_t bits = 0;
        for (int i = 0; i < 8; i++) bits |= uint32_t((lv[4 * 64 + 8 * i + lane / 2] >> (4 * (lane % 2))) & 0xF) << (4 * i);
        std::memcpy(qh, &bits, 4);
        break;
      }
      default:  // Q4_0, IQ4_NL
        for (int v = 0; v < 4; v++)
          for (int j = 0; j < 4; j++) blk[2 + 4 * v + j] = get(v, j);
    }
  }
}

void read_row(const Matrix& m, int64_t r, uint8_t* dst) {
  const size_t rb = row_bytes(m.type, m.cols);
  if (m.packed && packed_rows_complete(m.type) && r < m.rows / kPackRows * kPackRows) return unpack_row(m.type, m.packed, m.cols, r, dst);
  std::memcpy(dst, m.data + size_t(r) * rb, rb);
}

float q8_0_max_abs_scale(const uint8_t* data, int64_t rows, int64_t cols) {
  const auto* blocks = reinterpret_cast<const block_q8_0*>(data);
  float largest = 0;
  for (int64_t i = 0; i < rows * (cols / QK8_0); i++) largest = std::max(largest, std::fabs(fp16_to_fp32(blocks[i].d)));
  return largest;
}

namespace {

bool gets_packed(const Matrix& m) { return vector_variant(auto_variant()) == Variant::Avx512 && packable(m.type) && m.rows >= kPackRows; }

}  // namespace

void PackedWeights::pack_into(Matrix& m, ThreadPool& pool, uint8_t* dst) {
  pack_matrix(pool, m.type, m.data, m.rows, m.cols, dst);
  m.packed = dst;
  if (m.type == GGML_Q8_0) m.max_abs_scale = q8_0_max_abs_scale(m.data, m.rows, m.cols);
}

void PackedWeights::attach(Matrix& m, ThreadPool& pool) {
  if (!gets_packed(m)) return;
  buffers_.emplace_back(packed_bytes(m.type, m.rows, m.cols));
  pack_into(m, pool, buffers_.back().data());
}

void PackedWeights::attach_all(const std::vector<Matrix*>& ms, ThreadPool& pool, const std::function<void(Matrix&)>& packed_one) {
  size_t total = 0;
  for (const Matrix* m : ms)
    if (gets_packed(*m)) total += packed_bytes(m->type, m->rows, m->cols);  // whole groups: multiples of 64 bytes
  if (total == 0) return;
  buffers_.emplace_back(total);
  uint8_t* p = buffers_.back().data();
  for (Matrix* m : ms) {
    if (!gets_packed(*m)) continue;
    const size_t n = packed_bytes(m->type, m->rows, m->cols);
    pack_into(*m, pool, p);
    slices_.push_back({p, n});
    p += n;
    packed_one(*m);
  }
}

std::unique_ptr<ShadowBuild> ShadowBuild::start(const Matrix& m, bool release_rows) {
  const bool float_type = m.type == GGML_F32 || m.type == GGML_F16 || m.type == GGML_BF16;
  if (vector_variant(auto_variant()) != Variant::Avx512 || !float_type || m.rows % kPackRows != 0 || m.cols % QK8_0 != 0) return nullptr;
  return std::make_unique<ShadowBuild>(m, release_rows);
}

ShadowBuild::ShadowBuild(const Matrix& m, bool release_rows)
    : m_(m), release_rows_(release_rows), groups_(m.rows / kPackRows), n_chunks_(int((groups_ + kGroupsPerChunk - 1) / kGroupsPerChunk)),
      buffer_(packed_bytes(GGML_Q8_0, m.rows, m.cols)), parts_(size_t(n_chunks_)) {}

bool ShadowBuild::make_chunk() {
  const int chunk = next_.fetch_add(1, std::memory_order_relaxed);
  if (chunk >= n_chunks_) return false;
  const int64_t g0 = int64_t(chunk) * kGroupsPerChunk;
  const int64_t g1 = std::min(groups_, g0 + kGroupsPerChunk);
  parts_[size_t(chunk)] = avx512::pack_q8_0_shadow(m_.type, m_.data, m_.cols, g0, g1, buffer_.data());
  const size_t group_bytes = size_t(kPackRows) * row_bytes(m_.type, m_.cols);
  if (release_rows_) release_pages(m_.data + size_t(g0) * group_bytes, size_t(g1 - g0) * group_bytes);
  if (made_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_chunks_) {
    std::lock_guard<std::mutex> lock(mutex_);
    all_made_.notify_all();
  }
  return true;
}

void ShadowBuild::finish(ThreadPool& pool) {
  pool.parallel_for(pool.size(), [&](int, int) {
    while (make_chunk()) {}
  });
  std::unique_lock<std::mutex> lock(mutex_);
  all_made_.wait(lock, [&] { return done(); });
}

ArgmaxShadow ShadowBuild::shadow() const {
  ShadowStats all;
  for (const ShadowStats& s : parts_) {
    all.max_w2 = std::max(all.max_w2, s.max_w2), all.max_copy2 = std::max(all.max_copy2, s.max_copy2);
    all.max_err2 = std::max(all.max_err2, s.max_err2), all.max_abs_scale = std::max(all.max_abs_scale, s.max_abs_scale);
  }
  // Norms rounded up past the double arithmetic's error, so that the bounds built from them stay bounds.
  auto norm_up = [](double squared) { return std::nextafter(float(std::sqrt(squared) * (1 + 1e-9)), INFINITY); };
  return ArgmaxShadow{buffer_.data(), all.max_abs_scale, norm_up(all.max_w2), norm_up(all.max_copy2), norm_up(all.max_err2)};
}

void PackedWeights::attach_argmax_shadow(Matrix& m, ThreadPool& pool) {
  const std::unique_ptr<ShadowBuild> build = ShadowBuild::start(m, false);
  if (!build) return;
  build->finish(pool);
  attach_argmax_shadow(m, *build);
}

void PackedWeights::attach_argmax_shadow(Matrix& m, ShadowBuild& done) {
  shadows_.push_back(std::make_unique<ArgmaxShadow>(done.shadow()));
  buffers_.push_back(std::move(done.buffer()));
  m.shadow = shadows_.back().get();
}

bool PackedWeights::release(const uint8_t* p) {
  for (auto it = slices_.begin(); it != slices_.end(); ++it)
    if (it->data == p) {
      release_pages(it->data, it->bytes);  // private anonymous pages: given back to the system
      slices_.erase(it);
      return true;
    }
  for (auto it = buffers_.begin(); it != buffers_.end(); ++it)
    if (it->data() == p) {
      buffers_.erase(it);
      return true;
    }
  return false;
}

}  // namespace ir
