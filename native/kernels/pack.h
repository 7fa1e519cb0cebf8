// Row-interleaved copies of Q8_0, Q4_0, IQ4_NL, Q5_0 and Q5_1 weight matrices for the AVX-512 VNNI kernels (tile_packed.cc), made
// once at model load as llama.cpp's CPU repack buffers are. In a packed group of kPackRows rows, one 64-byte
// vector holds the same 4 bytes of one block of all 16 rows (32-bit lane r = row r), so one vpdpbusd against a
// broadcast activation dword gives one exact integer partial sum per row, and the per-row float arithmetic of the
// unpacked kernels runs 16 rows at a time, lane by lane, in the same order.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "../anonymous_memory.h"

#include "matmul.h"

namespace ir {

constexpr int kPackRows = 16;

// Layout of one group of 16 rows with nb = cols / 32 blocks:
//   levels, nb blocks of packed_level_bytes(type):
//     Q8_0: 8 vectors; vector i, lane r = bytes 4i..4i+3 of row r's block, each plus 128 (vpdpbusd multiplies
//           unsigned by signed bytes; the kernel takes 128·Σa back out of each partial sum)
//     Q4_0, IQ4_NL: 4 vectors; vector j, lane r = qs bytes 4j..4j+3 of row r's block as stored: low nibbles are
//           elements 4j..4j+3, high nibbles 16+4j..16+4j+3 (the kernel decodes them to unsigned values and takes
//           the offset out of the block total)
//     Q5_0: the 4 nibble vectors as for Q4_0, then 8 masks of 64 bits: mask i, bit 4r + e = the fifth bit of
//           element 4i + e of row r (so the kernel rebuilds each 4-element group's bytes, w + 16, in a vector)
//     Q5_1: as Q5_0 (its levels are the 5-bit values themselves, 0..31)
//   scales: nb × 16 f16 (block b: rows 0..15)
//   Q5_1 only: mins, nb × 16 f16 likewise
//   then padding to a multiple of 64 bytes, so every group starts cache-line aligned relative to the first.
bool packable(int type);
size_t packed_level_bytes(int type);
// Bytes per block of a group's scales (and mins).
size_t packed_scale_bytes(int type);
size_t packed_group_bytes(int type, int64_t cols);
// Bytes of the packed copy of a rows × cols matrix: its whole groups only (the rows past them stay unpacked).
size_t packed_bytes(int type, int64_t rows, int64_t cols);
// dst must be zero-filled (fresh anonymous memory is): Q5_0/Q5_1's masks are set bit by bit, padding is left as is.
void pack_matrix(int type, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst);
// The same, its groups spread over the pool.
void pack_matrix(ThreadPool& pool, int type, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst);
// Whether a packed copy of this type holds everything of the original rows (unpack_row rebuilds them), so that
// the original's pages need not be kept once packed.
bool packed_rows_complete(int type);
// Rebuilds row r (< rows / 16 * 16) of the original matrix, row_bytes(type, cols) bytes, from its packed copy.
void unpack_row(int type, const uint8_t* packed, int64_t cols, int64_t r, uint8_t* dst);
// Row r of m as stored in the file (row_bytes(m.type, m.cols) bytes): rebuilt from the packed copy where it holds
// that row completely, so that readers of single rows (embedding lookup, reduced heads, matmul_argmax's exact
// values) never touch the original's released pages.
void read_row(const Matrix& m, int64_t r, uint8_t* dst);
// Largest |scale| over a Q8_0 matrix's blocks (Matrix::max_abs_scale).
float q8_0_max_abs_scale(const uint8_t* data, int64_t rows, int64_t cols);

// What bounds a float matrix's Q8_0 estimate copy (ArgmaxShadow, before the square roots): over its rows r, the
// largest squared norms of w_r, of the copy ŵ_r and of w_r - ŵ_r, and the copy's largest |block scale|.
struct ShadowStats {
  double max_w2 = 0, max_copy2 = 0, max_err2 = 0;
  float max_abs_scale = 0;
};

namespace avx512 {
// Groups [g0, g1) of the packed Q8_0 copy of an F32/F16/BF16 matrix (cols a multiple of 32) written into dst (the
// whole copy's buffer): the bytes pack_matrix gives for llama.cpp's reference Q8_0 quantization of the rows
// (pack_shadow.cc). Returns those groups' ShadowStats.
ShadowStats pack_q8_0_shadow(int type, const uint8_t* src, int64_t cols, int64_t g0, int64_t g1, uint8_t* dst);
}  // namespace avx512

// A float matrix's Q8_0 estimate copy for matmul_argmax (ArgmaxShadow), made in chunks that any thread may claim,
// so that a model need not make it all before its first token (Transformer: a background thread makes chunks from
// load on, the first forward makes the rest over the pool). The matrix's data must outlive it.
class ShadowBuild {
 public:
  // Null where no copy applies: not the AVX-512 variant, not F32/F16/BF16, rows not a multiple of 16 or columns of 32.
  // release_rows: m's rows are a read-only file mapping whose pages each chunk releases once made (release_pages),
  // so that the head and its copy are not resident together (the pages between chunks stay: a page or so each).
  static std::unique_ptr<ShadowBuild> start(const Matrix& m, bool release_rows);
  ShadowBuild(const Matrix& m, bool release_rows);  // the copy's memory, nothing made yet
  // Makes one unclaimed chunk; false when none is left to claim (others may still be making theirs).
  bool make_chunk();
  // Makes every unclaimed chunk over the pool, then waits for chunks other threads are making.
  void finish(ThreadPool& pool);
  bool done() const { return made_.load(std::memory_order_acquire) == n_chunks_; }
  // Once done: the copy and what bounds its products (ArgmaxShadow::packed points into buffer()).
  ArgmaxShadow shadow() const;
  AnonymousMemory& buffer() { return buffer_; }

 private:
  static constexpr int64_t kGroupsPerChunk = 16;  // 256 rows
  const Matrix m_;
  const bool release_rows_;
  const int64_t groups_;
  const int n_chunks_;
  AnonymousMemory buffer_;
  std::vector<ShadowStats> parts_;  // per chunk
  std::atomic<int> next_{0}, made_{0};
  std::mutex mutex_;
  std::condition_variable all_made_;
};

// Owns the packed copies of a model's matrices.
class PackedWeights {
 public:
  // Points m.packed at a new packed copy of m when the matmul variant in use has a packed kernel for its type
  // (made over the pool).
  void attach(Matrix& m, ThreadPool& pool);
  // attach for each of ms, their copies in one allocation, so that they lie in 2 MiB pages: the kernel gives a
  // mapping transparent huge pages only for the aligned 2 MiB ranges inside it, and a 1-3 MB matrix of its own had
  // nearly none (~55% of Qwen3-0.6B's packed Q8_0 bytes were in 4 KiB pages, and which ones varied from load to load:
  // decode from them ran ~1.2x slower, the hardware prefetcher stopping at every 4 KiB page). packed_one(m) runs
  // after each copy is made.
  void attach_all(const std::vector<Matrix*>& ms, ThreadPool& pool, const std::function<void(Matrix&)>& packed_one);
  // Points m.shadow at a new Q8_0 estimate copy of a float matrix, for greedy steps (matmul_argmax), when the
  // AVX-512 variant is in use and the shape allows (rows a multiple of 16, columns of 32): made now, over the pool.
  void attach_argmax_shadow(Matrix& m, ThreadPool& pool);
  // The same with a finished build of m's copy, which this object then owns.
  void attach_argmax_shadow(Matrix& m, ShadowBuild& done);
  // Frees the packed copy starting at p (a matrix now points elsewhere); false if no copy of this object starts there.
  // A copy inside a shared allocation (attach_all) gives back the whole pages it spans alone.
  bool release(const uint8_t* p);

 private:
  // Makes m's packed copy at dst (zero-filled, packed_bytes) and points m at it.
  static void pack_into(Matrix& m, ThreadPool& pool, uint8_t* dst);
  struct Slice {
    const uint8_t* data;
    size_t bytes;
  };
  std::vector<AnonymousMemory> buffers_;
  std::vector<Slice> slices_;  // the copies attach_all placed in buffers_' shared allocations
  std::vector<std::unique_ptr<ArgmaxShadow>> shadows_;
};

}  // namespace ir
