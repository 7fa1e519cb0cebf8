// One thread running the Q4_K batch kernels on the same random weights and activation rows, alternately: the AVX-512
// VNNI one (tile_ksuper_batch) and the AMX one (tile_q4k_amx): the smallest CPU time of each over reps calls, their
// ratio, and whether every output has the same bits. The kernel alone, without matmul's activation quantizing and
// N-API's output allocation (which bench/matmul.ts --variant amx|avx512 includes).
//   build (from the repository root):
//     g++ -std=c++17 -O3 -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mamx-tile -mamx-int8 \
//       -DIR_SIMD_NS=avx512 -Inative -Inative/kernels bench/native/q4k-amx-kernel.cc native/kernels/tile_ksuper_batch.cc \
//       native/kernels/tile_q4k_amx.cc -o /tmp/q4k-amx-kernel
//   usage: /tmp/q4k-amx-kernel rows cols nact reps per64(0|1)
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../native/ggml_types.h"
#include "../../native/kernels/kernel_variants.h"
#include "random_blocks.h"
#include "thread_cpu.h"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s rows cols nact reps per64(0|1)\n", argv[0]);
    return 2;
  }
  const int rows = std::atoi(argv[1]), cols = std::atoi(argv[2]), nact = std::atoi(argv[3]), reps = std::atoi(argv[4]);
  const bool per64 = std::atoi(argv[5]) != 0;
  if (rows < 1 || cols < 256 || cols % 256 != 0 || nact < 1 || reps < 1) {
    std::fprintf(stderr, "rows, nact and reps must be positive, cols a multiple of 256\n");
    return 2;
  }
  // The tile state, as cpu_features() asks for it (Linux: ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) {
    std::fprintf(stderr, "no AMX tile state from the OS\n");
    return 1;
  }
  const int64_t nsb = cols / 256;
  const size_t wrow = size_t(nsb) * sizeof(ir::block_q4_K);
  const std::vector<uint8_t> w = random_ksuper_blocks(ir::GGML_Q4_K, size_t(rows) * size_t(nsb));
  const std::vector<ir::block_q8_K> act = random_q8k_blocks(size_t(nact) * size_t(nsb));
  std::vector<float> y[2] = {std::vector<float>(size_t(nact) * size_t(rows)), std::vector<float>(size_t(nact) * size_t(rows))};
  ir::TileArgs t{};
  t.wtype = ir::GGML_Q4_K;
  t.k = cols;
  t.w = w.data();
  t.wrow = wrow;
  t.nw = rows;
  t.act = reinterpret_cast<const uint8_t*>(act.data());
  t.n_act = nact;
  t.ldy = rows;
  t.gemm_order = per64;
  double best[2] = {1e30, 1e30};
  for (int r = 0; r < reps; r++)
    for (int v = 0; v < 2; v++) {
      t.y = y[v].data();
      const double c0 = thread_cpu_seconds();
      if (v == 0) ir::avx512::tile_ksuper_batch(t);
      else ir::avx512::tile_q4k_amx(t);
      best[v] = std::min(best[v], thread_cpu_seconds() - c0);
    }
  const double macs = double(rows) * cols * nact;
  std::printf("%dx%d nact %d %s: vnni %.0f us (%.0f GMAC/s), amx %.0f us (%.0f GMAC/s), ratio %.2f, same bits %s\n", rows, cols, nact,
              per64 ? "per-64" : "per-super-block", best[0] * 1e6, macs / best[0] / 1e9, best[1] * 1e6, macs / best[1] / 1e9, best[0] / best[1],
              std::memcmp(y[0].data(), y[1].data(), y[0].size() * 4) == 0 ? "yes" : "NO");
  return 0;
}
