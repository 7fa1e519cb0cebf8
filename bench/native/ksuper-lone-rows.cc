// One thread running the AVX-512 tile on Q4_K/Q5_K/Q6_K weights against one activation row (decode's single-row
// kernels, q4k_single_row, q5k_single_row and q6k_single_row) over a Q4_K_M (or Q5_K_M) model's layer shapes, `layers` copies of them (larger
// than the caches: read from memory as in the model), random weights (random_blocks.h). Each matrix is cut into
// the guided bands matmul.cc gives two threads for one activation row (a quarter of the work left, down to 64 KB,
// rows in fours), run one after another. Prints the smallest and median CPU time of a pass and a hash of the
// first pass's output bits (an A/B of kernel builds must print the same hashes).
//   build (from the repo root, after `npm run rebuild:native`, whose AVX2/reference libraries it links):
//     g++ -std=c++17 -O3 -ffp-contract=off -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq \
//       -mavx512vnni -I. -DIR_SIMD_NS=avx512 bench/native/ksuper-lone-rows.cc \
//       native/kernels/{tile_simd,tile_packed,tile_ksuper_batch,tile_bf16,tile_f16_batch,pack_shadow}.cc \
//       native/kernels/{cpu_features,expf_libm,quants,pack,dot_scalar,matmul}.cc \
//       native/{ggml_types,anonymous_memory,thread_pool,mapped_file,engine_threads}.cc \
//       build/Release/kernels_amx.a build/Release/kernels_avx2.a build/Release/kernels_ref.a -lpthread -o /tmp/ksuper-lone-rows
//   usage: ksuper-lone-rows qwen3|llama [layers 8] [reps 30] [types q4_k,q6_k] [head 0|1]
//   types: which of the model's matrices run; q5_k in the list makes every Q4_K matrix Q5_K (Q5_K_M).
//   qwen3: Qwen3-0.6B (1024 wide, ffn 3072; attn_v and ffn_down Q6_K in every other layer, as Q4_K_M); llama:
//   Llama-3.2-1B (2048 wide, ffn 8192, kv 512). head 1 adds the tied Q6_K output head once per pass.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../native/ggml_types.h"
#include "../../native/kernels/kernel_variants.h"
#include "random_blocks.h"
#include "thread_cpu.h"

namespace {

struct Matrix {
  int type, rows, cols;
  std::vector<uint8_t> w;
  size_t wrow() const { return size_t(cols / 256) * ksuper_block_bytes(type); }
};

// matmul.cc's decode bands for two threads, over one matrix as its own section.
void guided_bands(const Matrix& m, const uint8_t* act, float* y) {
  constexpr double kMinBandBytes = 64 << 10;
  const double wrow = double(m.wrow());
  double remaining = double(m.rows) * wrow;
  for (int r0 = 0; r0 < m.rows;) {
    const double want = std::max(kMinBandBytes, remaining / 4.0);
    int band = std::max(1, int(want / wrow));
    band = std::max(4, (band + 3) / 4 * 4);
    const int r1 = std::min(m.rows, r0 + band);
    ir::TileArgs t{};
    t.wtype = m.type;
    t.k = m.cols;
    t.w = m.w.data() + size_t(r0) * m.wrow();
    t.wrow = m.wrow();
    t.nw = r1 - r0;
    t.act = act;
    t.n_act = 1;
    t.y = y + r0;
    t.ldy = m.rows;
    t.single_row = true;
    ir::avx512::tile(t);
    remaining -= double(r1 - r0) * wrow;
    r0 = r1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ir;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s qwen3|llama [layers 8] [reps 30] [types q4_k,q6_k] [head 0|1]\n", argv[0]);
    return 2;
  }
  const bool qwen = std::string(argv[1]) == "qwen3";
  const int layers = argc > 2 ? std::atoi(argv[2]) : 8;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 30;
  const std::string types = argc > 4 ? argv[4] : "q4_k,q6_k";
  const bool head = argc > 5 && std::atoi(argv[5]) != 0;
  const int d = qwen ? 1024 : 2048, q = qwen ? 2048 : 2048, kv = qwen ? 1024 : 512, ff = qwen ? 3072 : 8192;
  std::vector<Matrix> ms;
  const bool q5 = types.find("q5_k") != std::string::npos;
  auto add = [&](int type, int rows, int cols) {
    if (q5 && type == GGML_Q4_K) type = GGML_Q5_K;
    if (types.find(type == GGML_Q4_K ? "q4_k" : type == GGML_Q5_K ? "q5_k" : "q6_k") == std::string::npos) return;
    ms.push_back({type, rows, cols, random_ksuper_blocks(type, size_t(rows) * size_t(cols / 256))});
  };
  for (int l = 0; l < layers; l++) {
    const int more_bits = l % 2 == 0 ? GGML_Q6_K : GGML_Q4_K;  // Q4_K_M's attn_v / ffn_down in every other layer
    add(GGML_Q4_K, q, d);
    add(GGML_Q4_K, kv, d);
    add(more_bits, kv, d);
    add(GGML_Q4_K, d, q);
    add(GGML_Q4_K, ff, d);
    add(GGML_Q4_K, ff, d);
    add(more_bits, d, ff);
  }
  if (head) add(GGML_Q6_K, qwen ? 151936 : 128256, d);
  const std::vector<block_q8_K> act = random_q8k_blocks(size_t(std::max(ff, q) / 256));
  std::vector<float> y(qwen ? 151936 : 128256);
  std::vector<double> times;
  uint64_t hash = 1469598103934665603ull;  // FNV-1a over the first pass's output bits
  for (int rep = 0; rep < reps; rep++) {
    const double t0 = thread_cpu_seconds();
    for (const Matrix& m : ms) {
      guided_bands(m, reinterpret_cast<const uint8_t*>(act.data()), y.data());
      if (rep == 0)
        for (int i = 0; i < m.rows; i++) {
          uint32_t bits;
          std::memcpy(&bits, &y[size_t(i)], sizeof bits);
          hash = (hash ^ bits) * 1099511628211ull;
        }
    }
    times.push_back(thread_cpu_seconds() - t0);
  }
  double bytes = 0;
  for (const Matrix& m : ms) bytes += double(m.rows) * double(m.wrow());
  std::sort(times.begin(), times.end());
  std::printf("%s layers %d types %s head %d: min %.3f median %.3f ms (%.1f GB per CPU-s at the median) hash %016llx\n",
              argv[1], layers, types.c_str(), int(head), times[0] * 1e3, times[times.size() / 2] * 1e3,
              bytes / times[times.size() / 2] * 1e-9, static_cast<unsigned long long>(hash));
}
