// Q4_K weights against 2+ activation rows on AMX tiles (Sapphire Rapids and later), both of llama.cpp's Q4_K orders
// (per activation row, TileArgs::gemm_rows / gemm_order). Built in its own library with -mamx-tile -mamx-int8, so
// no other code gets those flags; matmul runs it only where cpu_features().amx_int8 (the OS granted the tile state).
//
// The same bits as tile_ksuper_batch.cc (and so as the single-row kernels): per (weight row, activation row) pair
// the int32 dot of each 32-element sub-block is exact whatever computes it, and here TDPBSUD does (activation quants
// s8 as the A tile, Q4_K levels 0..15 u8 as the B tile, 32 bytes deep: one sub-block, since each has its own
// scale). The scaled sums are then exact integers and the float steps per pair are tile_ksuper_batch's, in the same
// order, 16 weight rows per vector:
//   per-64 order (llama.cpp's batched kernel): isum64 = sc_2c·dot_2c + sc_2c+1·dot_2c+1, formed in float with one
//     multiply and one fused multiply-add of integers below 2^24 (|dot| <= 32·15·128, sc < 64: every value exact, so
//     it equals float(isum64)); seq = fma(float(isum64), dw·da, seq), msum = fma(float(mins64), dmin·da, msum);
//   per-super-block order (single row): isum = Σ_j sc_j·dot_j in int32 (up to 2^25: not exact in float steps);
//     seq = fma(float(isum), dw·da, seq), msum = fma(float(Σ mins), dmin·da, msum);
//   the output is seq - msum.
// Layout: weight rows are decoded 16 at a time (per super-block: eight B tiles, the rows' factors in vector lanes),
// activation rows copied into 16-row A tiles; pairs of blocks of each run as four C tiles (the 2x2 blocking that the
// eight tile registers allow), stored per sub-block for the vector code. What a tile product costs is set by its
// 16 rows x 16 columns, not its depth (TDPBSUD 32 bytes deep took as long as 64 here, ~5.3 ns; with its zeroing and
// store ~9.8 ns, with its share of the tile loads ~17), so the tiles run well below their rate: in a 128-row call
// (perf) about half the time is the tile instructions, a third the float steps.
#include "intrinsics.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../ggml_types.h"
#include "kernel_variants.h"
#include "quants.h"

namespace ir {
namespace avx512 {
namespace {

constexpr int kTile = 16;         // activation rows of an A tile, weight rows (columns) of a B tile
constexpr int kSub = QK_K / 32;   // sub-blocks per super-block

// Tile registers: C[a][w] (int32 dots of activation block a, weight block w) = 2a + w; A tiles 4, 5; B tiles 6, 7.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

constexpr TileConfig tile_config() {
  TileConfig c;
  for (int i = 0; i < 4; i++) c.rows[i] = kTile, c.colsb[i] = 64;  // C: 16 activation rows x 16 int32
  for (int i = 4; i < 6; i++) c.rows[i] = kTile, c.colsb[i] = 32;  // A: 16 activation rows x one sub-block
  for (int i = 6; i < 8; i++) c.rows[i] = 8, c.colsb[i] = 64;      // B: 8 quads of levels x 16 weight rows
  return c;
}
// A constant in memory: GCC's _tile_loadconfig tells the compiler it reads only the first 8 bytes, so a local
// configuration's other stores could be dropped.
alignas(64) constexpr TileConfig kTileConfig = tile_config();

// GCC's _tile_loadd is an asm statement without a memory operand: the compiler must not keep the tiles' bytes
// (decoded weights, copied quants) in registers or move their stores past it.
inline void tile_sources_written() { __asm__ volatile("" ::: "memory"); }

// The calling thread's tile configuration, replaced by ours for one call and put back after it. The engine's
// calling thread is one of libuv's pool threads, shared with other native code in the process: llama.cpp's AMX
// kernels (node-llama-cpp, in the same process) load their configuration once per thread and keep using it, and a
// tile product under another configuration is SIGILL (seen: test/core/quantize/llama-cpp-parity.test.ts).
class TileConfigScope {
 public:
  TileConfigScope() {
    _tile_storeconfig(&saved_);
    tile_sources_written();  // GCC's _tile_storeconfig does not tell the compiler it wrote saved_
    _tile_loadconfig(&kTileConfig);
  }
  ~TileConfigScope() {
    if (saved_.palette == 0) _tile_release();  // no configuration before: tiles back to their initial state
    else _tile_loadconfig(&saved_);
  }
  TileConfigScope(const TileConfigScope&) = delete;
  TileConfigScope& operator=(const TileConfigScope&) = delete;

 private:
  TileConfig saved_;
};

inline float h2f(ggml_half h) { return _cvtsh_ss(h); }

// One super-block of 16 weight rows: per sub-block j the B tile (row k, bytes 4m..4m+3 = levels 4k..4k+3 of the
// sub-block in weight row m: the VNNI layout), and per weight row (lane m) what the float steps take.
struct alignas(64) WeightSb {
  uint8_t b[kSub][8 * 64];
  float d[kTile], dmin[kTile];
  float scale_f[kSub][kTile];
  int32_t scale_i[kSub][kTile];
  int32_t min_pairs[4][kTile];  // int16 pair (min 2c, min 2c+1), against an activation row's bsum pair c
};

// Weight rows [r0, r0 + 16) of the band, every super-block, into out[0 .. nsb); rows past nw get zero levels and
// factors (their outputs are not stored). Each super-block also prefetches the same bytes of the rows two blocks on
// (the next pair's, decoded after this pair's pass) into L2: without it the first touch of 16 row streams stalled the
// gathers and row loads (perf), and a decode step's weights come from memory (one thread, 16 rows: 65536x2048 from
// memory 0.87x the time; 9 MB that fits the caches 1.07x; whole 16/32-sequence Llama-1B step ~0.94/0.89x the CPU).
void decode_block(const uint8_t* w, size_t wrow, int r0, int nw, int64_t nsb, WeightSb* out) {
  const int rows = std::max(0, std::min(kTile, nw - r0));
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __mmask16 live = __mmask16((1u << rows) - 1);
  const __m512i row_offset = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(int(wrow)));
  const uint8_t* first = w + size_t(r0) * wrow;
  const int ahead_rows = std::max(0, std::min(kTile, nw - (r0 + 2 * kTile)));
  for (int64_t s = 0; s < nsb; s++) {
    WeightSb& W = out[s];
    const uint8_t* blk = first + size_t(s) * sizeof(block_q4_K);
    for (int m = 0; m < ahead_rows; m++)
      prefetch_lines<2>(blk + size_t(2 * kTile + m) * wrow, sizeof(block_q4_K));
    // Per weight row (lane m) the block's dwords: d and dmin, then the 12 bytes of packed scales and mins, unpacked as
    // k4_scales_mins does (scales 0..7 as the bytes of u0, u1; mins of u2, u3).
    auto dword = [&](int o) { return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, row_offset, blk + o, 1); };
    const __m512i dd = dword(0), p0 = dword(4), p1 = dword(8), p2 = dword(12);
    const __m512i six = _mm512_set1_epi8(0x3F), four = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03);
    const __m512i u0 = _mm512_and_si512(p0, six);
    const __m512i u1 = _mm512_or_si512(_mm512_and_si512(p2, four), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(p0, 6), two), 4));
    const __m512i u2 = _mm512_and_si512(p1, six);
    const __m512i u3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(p2, 4), four), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(p1, 6), two), 4));
    _mm512_store_ps(W.d, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd)));
    _mm512_store_ps(W.dmin, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16))));
    const __m512i byte = _mm512_set1_epi32(0xFF);
    for (int j = 0; j < kSub; j++) {
      const __m512i sc = _mm512_and_si512(_mm512_srli_epi32(j < 4 ? u0 : u1, 8 * (j % 4)), byte);
      _mm512_store_si512(W.scale_i[j], sc);
      _mm512_store_ps(W.scale_f[j], _mm512_cvtepi32_ps(sc));
    }
    for (int c = 0; c < 4; c++) {  // bytes 2c, 2c+1 of the mins as an int16 pair
      const __m512i x = _mm512_srli_epi32(c < 2 ? u2 : u3, 16 * (c % 2));
      _mm512_store_si512(W.min_pairs[c], _mm512_or_si512(_mm512_and_si512(x, byte), _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0xFF00)), 8)));
    }
    const block_q4_K* b[kTile];
    for (int m = 0; m < kTile; m++) b[m] = m < rows ? reinterpret_cast<const block_q4_K*>(blk + size_t(m) * wrow) : nullptr;
    // Bytes 32c .. 32c+31 of qs hold sub-block 2c (low nibbles) and 2c+1 (high): their eight dwords per weight row,
    // transposed to one vector per dword k with weight row m in int32 lane m. Rows i and i+8 share a vector (its
    // 256-bit halves), so the 4x4 transposes within 128-bit lanes and two 128-bit shuffles give lanes in row order.
    for (int c = 0; c < 4; c++) {
      auto row_bytes32 = [&](int m) {
        return m < rows ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[m]->qs + 32 * c)) : _mm256_setzero_si256();
      };
      __m512i x[8], t[8], q[8];
      for (int i = 0; i < 8; i++) x[i] = _mm512_inserti64x4(_mm512_castsi256_si512(row_bytes32(i)), row_bytes32(i + 8), 1);
      for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(x[2 * i], x[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(x[2 * i], x[2 * i + 1]);
      }
      // q[4h + e]: dword e (and 4 + e) of rows 4h .. 4h+3 (and 8 + those) per 128-bit lane.
      for (int h = 0; h < 2; h++) {
        q[4 * h + 0] = _mm512_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
        q[4 * h + 1] = _mm512_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
        q[4 * h + 2] = _mm512_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
        q[4 * h + 3] = _mm512_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
      }
      for (int k = 0; k < 8; k++) {
        // [rows 0-3, rows 8-11, rows 4-7, rows 12-15] of dword k, then the middle lanes swapped.
        const __m512i p = k < 4 ? _mm512_shuffle_i32x4(q[k], q[4 + k], 0x88) : _mm512_shuffle_i32x4(q[k - 4], q[k], 0xDD);
        const __m512i v = _mm512_shuffle_i32x4(p, p, 0xD8);
        _mm512_store_si512(W.b[2 * c] + 64 * k, _mm512_and_si512(v, low4));
        _mm512_store_si512(W.b[2 * c + 1] + 64 * k, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
      }
    }
  }
}

// Activation side of one super-block for a block of 16 rows (rows past the batch zero).
struct alignas(64) ActMeta {
  float d[kTile];
  int32_t bsum_pairs[4][kTile];  // int16 pair (bsums 4c + bsums 4c+1, bsums 4c+2 + bsums 4c+3): the 32-element sums
};

// One block of 16 activation rows: its A tiles and its per-super-block factors.
struct ActBlock {
  const int8_t* base;  // A tiles, [super-block][sub-block][16 rows][32]
  const ActMeta* meta; // [nsb]
  int rows;            // rows inside the batch (outputs stored)
  int m0;              // its first activation row
};

struct Band {
  int64_t nsb;
  const uint8_t* per64;  // per activation row: the per-64 order
  float* y;
  int64_t ldy;
  int nw;
};

// Activation blocks A[0 .. NA) against weight blocks 0 .. NW - 1 (rows r0 + 16w of the band), all super-blocks;
// outputs stored for the rows inside the batch and the band. Per super-block the tiles compute every sub-block's dots
// for each (activation, weight) block pair into a buffer, then the vector code takes the float steps. (Steps of 64
// weights, the tiles of the next step issued before the float steps of this one, measured the same speed: the tile
// unit and the vector code did not overlap, here or in a loop of nothing else.)
template <int NA, int NW>
void block_pass(const Band& band, const ActBlock* A, const WeightSb* wdec, int r0) {
  const int64_t nsb = band.nsb;
  struct alignas(64) Acc { float seq[kTile], msum[kTile]; };  // per (activation row, weight block)
  thread_local std::vector<Acc> acc_store;
  thread_local std::vector<int32_t> dots_store;
  acc_store.assign(size_t(NA * kTile * NW), Acc{});
  dots_store.resize(size_t(kSub * NA * NW * kTile * kTile) + 16);
  Acc* acc = acc_store.data();
  int32_t* dots = reinterpret_cast<int32_t*>((reinterpret_cast<uintptr_t>(dots_store.data()) + 63) & ~uintptr_t(63));
  // C tile (sub-block j, activation block a, weight block w): row n = activation row n's dots with the 16 weight rows.
  auto tile_at = [&](int j, int a, int w) { return dots + ((size_t(j) * NA + size_t(a)) * NW + size_t(w)) * kTile * kTile; };
  tile_sources_written();
  for (int64_t s = 0; s < nsb; s++) {
    const WeightSb* W0 = wdec + size_t(s);
    const WeightSb* W1 = wdec + size_t(nsb) + size_t(s);
    for (int j = 0; j < kSub; j++) {
      _tile_loadd(4, A[0].base + (size_t(s) * kSub + size_t(j)) * kTile * 32, 32);
      _tile_loadd(6, W0->b[j], 64);
      _tile_zero(0);
      _tile_dpbsud(0, 4, 6);
      _tile_stored(0, tile_at(j, 0, 0), 64);
      if constexpr (NW == 2) {
        _tile_loadd(7, W1->b[j], 64);
        _tile_zero(1);
        _tile_dpbsud(1, 4, 7);
        _tile_stored(1, tile_at(j, 0, 1), 64);
      }
      if constexpr (NA == 2) {
        _tile_loadd(5, A[1].base + (size_t(s) * kSub + size_t(j)) * kTile * 32, 32);
        _tile_zero(2);
        _tile_dpbsud(2, 5, 6);
        _tile_stored(2, tile_at(j, 1, 0), 64);
        if constexpr (NW == 2) {
          _tile_zero(3);
          _tile_dpbsud(3, 5, 7);
          _tile_stored(3, tile_at(j, 1, 1), 64);
        }
      }
    }
    for (int a = 0; a < NA; a++) {
      const ActMeta& M = A[a].meta[s];
      for (int n = 0; n < A[a].rows; n++) {
        const __m512 da = _mm512_set1_ps(M.d[n]);
        const bool per64 = band.per64[A[a].m0 + n] != 0;
        for (int w = 0; w < NW; w++) {
          const WeightSb& Wd = wdec[size_t(w) * size_t(nsb) + size_t(s)];
          Acc& ac = acc[(size_t(a) * kTile + size_t(n)) * NW + size_t(w)];
          const __m512 dd = _mm512_mul_ps(_mm512_load_ps(Wd.d), da), dm = _mm512_mul_ps(_mm512_load_ps(Wd.dmin), da);
          auto dot = [&](int j) { return _mm512_load_si512(tile_at(j, a, w) + kTile * n); };
          auto mins = [&](int c) { return _mm512_madd_epi16(_mm512_load_si512(Wd.min_pairs[c]), _mm512_set1_epi32(M.bsum_pairs[c][n])); };
          __m512 seq = _mm512_load_ps(ac.seq), msum = _mm512_load_ps(ac.msum);
          if (per64) {
            for (int c = 0; c < 4; c++) {
              const __m512 lo = _mm512_mul_ps(_mm512_cvtepi32_ps(dot(2 * c)), _mm512_load_ps(Wd.scale_f[2 * c]));
              seq = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(dot(2 * c + 1)), _mm512_load_ps(Wd.scale_f[2 * c + 1]), lo), dd, seq);
              msum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mins(c)), dm, msum);
            }
          } else {
            __m512i isum = _mm512_mullo_epi32(dot(0), _mm512_load_si512(Wd.scale_i[0]));
            for (int j = 1; j < kSub; j++) isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot(j), _mm512_load_si512(Wd.scale_i[j])));
            const __m512i m = _mm512_add_epi32(_mm512_add_epi32(mins(0), mins(1)), _mm512_add_epi32(mins(2), mins(3)));
            seq = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), dd, seq);
            msum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), dm, msum);
          }
          _mm512_store_ps(ac.seq, seq);
          _mm512_store_ps(ac.msum, msum);
        }
      }
    }
  }
  for (int a = 0; a < NA; a++)
    for (int n = 0; n < A[a].rows; n++)
      for (int w = 0; w < NW; w++) {
        const int cols = std::min(kTile, band.nw - (r0 + kTile * w));
        const Acc& ac = acc[(size_t(a) * kTile + size_t(n)) * NW + size_t(w)];
        _mm512_mask_storeu_ps(band.y + int64_t(A[a].m0 + n) * band.ldy + r0 + kTile * w, __mmask16((1u << cols) - 1),
                              _mm512_sub_ps(_mm512_load_ps(ac.seq), _mm512_load_ps(ac.msum)));
      }
}

}  // namespace

void tile_q4k_amx(const TileArgs& t) {
  // Per call: a pool thread may run its first tile kernel here, or another library's since the last.
  const TileConfigScope tiles;
  const int64_t nsb = t.k / QK_K;
  const auto* act = reinterpret_cast<const block_q8_K*>(t.act);
  const int blocks = (t.n_act + kTile - 1) / kTile;

  thread_local std::vector<uint8_t> per64;
  per64.resize(size_t(t.n_act));
  for (int m = 0; m < t.n_act; m++) per64[size_t(m)] = t.gemm_rows ? (t.gemm_rows[m] & kOrderQ4kGemm) != 0 : t.gemm_order;
  thread_local std::vector<ActMeta> meta;  // [block][super-block]
  meta.assign(size_t(blocks) * size_t(nsb), ActMeta{});
  for (int m = 0; m < t.n_act; m++)
    for (int64_t s = 0; s < nsb; s++) {
      const block_q8_K& B = act[size_t(m) * size_t(nsb) + size_t(s)];
      ActMeta& M = meta[size_t(m / kTile) * size_t(nsb) + size_t(s)];
      M.d[m % kTile] = B.d;
      for (int c = 0; c < 4; c++) {
        const int lo = B.bsums[4 * c] + B.bsums[4 * c + 1], hi = B.bsums[4 * c + 2] + B.bsums[4 * c + 3];
        M.bsum_pairs[c][m % kTile] = int32_t(uint16_t(int16_t(lo))) | int32_t(uint32_t(uint16_t(int16_t(hi))) << 16);
      }
    }
  // The activation quants in the A tiles' order, [block][super-block][sub-block][16 rows][32], rows past the batch
  // zero, so a partial block needs no other path: each tile is 512 contiguous bytes. (Loading the tiles from the
  // rows themselves, 16 cache lines a row's length apart, measured the same speed.)
  thread_local std::vector<int8_t> quants;
  quants.assign(size_t(blocks) * size_t(nsb) * kSub * kTile * 32, 0);
  for (int m = 0; m < t.n_act; m++)
    for (int64_t s = 0; s < nsb; s++)
      for (int j = 0; j < kSub; j++)
        std::memcpy(quants.data() + (((size_t(m / kTile) * size_t(nsb) + size_t(s)) * kSub + size_t(j)) * kTile + size_t(m % kTile)) * 32,
                    act[size_t(m) * size_t(nsb) + size_t(s)].qs + 32 * j, 32);
  thread_local std::vector<ActBlock> ab;
  ab.resize(size_t(blocks));
  for (int b = 0; b < blocks; b++) {
    ActBlock& B = ab[size_t(b)];
    B.meta = meta.data() + size_t(b) * size_t(nsb);
    B.m0 = b * kTile;
    B.rows = std::min(kTile, t.n_act - B.m0);
    B.base = quants.data() + size_t(b) * size_t(nsb) * kSub * kTile * 32;
  }
  const Band band{nsb, per64.data(), t.y, t.ldy, t.nw};
  thread_local std::vector<WeightSb> wdec;  // two blocks of 16 weight rows, [block][super-block]
  wdec.resize(size_t(2) * size_t(nsb));
  // Activation rows in chunks whose quants stay in L2 while every pair of weight blocks runs against them (the
  // weights are decoded once per chunk).
  const int chunk = std::max(2, int((size_t(768) << 10) / (size_t(kTile) * size_t(t.k))) / 2 * 2);
  for (int b0 = 0; b0 < blocks; b0 += chunk) {
    const int b1 = std::min(blocks, b0 + chunk);
    for (int r0 = 0; r0 < t.nw; r0 += 2 * kTile) {
      const bool two = r0 + kTile < t.nw;
      decode_block(t.w, t.wrow, r0, t.nw, nsb, wdec.data());
      if (two) decode_block(t.w, t.wrow, r0 + kTile, t.nw, nsb, wdec.data() + nsb);
      for (int b = b0; b < b1; b += 2) {
        const bool pair = b + 1 < b1;
        if (pair && two) block_pass<2, 2>(band, &ab[size_t(b)], wdec.data(), r0);
        else if (pair) block_pass<2, 1>(band, &ab[size_t(b)], wdec.data(), r0);
        else if (two) block_pass<1, 2>(band, &ab[size_t(b)], wdec.data(), r0);
        else block_pass<1, 1>(band, &ab[size_t(b)], wdec.data(), r0);
      }
    }
  }
}

}  // namespace avx512
}  // namespace ir
