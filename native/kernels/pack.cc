#include "pack.h"

#include "../ggml_types.h"
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

void PackedWeights::attach(Matrix& m, ThreadPool& pool) {
  if (auto_variant() != Variant::Avx512 || !packable(m.type) || m.rows < kPackRows) return;
  const size_t n = packed_bytes(m.type, m.rows, m.cols);
  buffers_.emplace_back(n);
  uint8_t* p = buffers_.back().data();
  pack_matrix(pool, m.type, m.data, m.rows, m.cols, p);
  m.packed = p;
  if (m.type == GGML_Q8_0) m.max_abs_scale = q8_0_max_abs_scale(m.data, m.rows, m.cols);
}

void PackedWeights::attach_argmax_shadow(Matrix& m, ThreadPool& pool) {
  const bool float_type = m.type == GGML_F32 || m.type == GGML_F16 || m.type == GGML_BF16;
  if (auto_variant() != Variant::Avx512 || !float_type || m.rows % kPackRows != 0 || m.cols % QK8_0 != 0) return;
  const int64_t nb = m.cols / QK8_0;
  const size_t q8_row = size_t(nb) * sizeof(block_q8_0), src_row = row_bytes(m.type, m.cols);
  std::vector<uint8_t> q8(q8_row * size_t(m.rows));
  // Squared norms' maxima per task (rows in tasks of 256), combined after.
  constexpr int64_t kRowsPerTask = 256;
  const int n_tasks = int((m.rows + kRowsPerTask - 1) / kRowsPerTask);
  std::vector<double> task_w(static_cast<size_t>(n_tasks)), task_copy(task_w), task_err(task_w);
  pool.parallel_for(n_tasks, [&](int task, int) {
    std::vector<float> x(size_t(m.cols)), back(size_t(m.cols));
    double max_w = 0, max_copy = 0, max_err = 0;
    for (int64_t r = task * kRowsPerTask; r < std::min(m.rows, (task + 1) * kRowsPerTask); r++) {
      dequantize_row(m.type, m.data + size_t(r) * src_row, x.data(), m.cols);
      uint8_t* q = q8.data() + size_t(r) * q8_row;
      quantize_row_ref(GGML_Q8_0, x.data(), q, m.cols);
      dequantize_row(GGML_Q8_0, q, back.data(), m.cols);
      double w2 = 0, copy2 = 0, err2 = 0;
      for (int64_t j = 0; j < m.cols; j++) {
        const double w = x[size_t(j)], c = back[size_t(j)];
        w2 += w * w;
        copy2 += c * c;
        err2 += (w - c) * (w - c);
      }
      max_w = std::max(max_w, w2);
      max_copy = std::max(max_copy, copy2);
      max_err = std::max(max_err, err2);
    }
    task_w[size_t(task)] = max_w, task_copy[size_t(task)] = max_copy, task_err[size_t(task)] = max_err;
  });
  const double max_w = *std::max_element(task_w.begin(), task_w.end());
  const double max_copy = *std::max_element(task_copy.begin(), task_copy.end());
  const double max_err = *std::max_element(task_err.begin(), task_err.end());
  buffers_.emplace_back(packed_bytes(GGML_Q8_0, m.rows, m.cols));
  uint8_t* p = buffers_.back().data();
  pack_matrix(pool, GGML_Q8_0, q8.data(), m.rows, m.cols, p);
  // Norms rounded up past the double arithmetic's error, so that the bounds built from them stay bounds.
  auto norm_up = [](double squared) { return std::nextafter(float(std::sqrt(squared) * (1 + 1e-9)), INFINITY); };
  shadows_.push_back(std::make_unique<ArgmaxShadow>(ArgmaxShadow{
      p, q8_0_max_abs_scale(q8.data(), m.rows, m.cols), norm_up(max_w), norm_up(max_copy), norm_up(max_err)}));
  m.shadow = shadows_.back().get();
}

bool PackedWeights::release(const uint8_t* p) {
  for (auto it = buffers_.begin(); it != buffers_.end(); ++it)
    if (it->data() == p) {
      buffers_.erase(it);
      return true;
    }
  return false;
}

}  // namespace ir
