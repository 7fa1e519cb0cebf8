// One thread running tile_ksuper_batch (the few-rows Q4_K/Q6_K kernel) over E weight matrices of rows x cols
// (together larger than the caches, as an MoE step's experts), for each activation row count: the smallest CPU time
// of reps passes, and a hash of the outputs' bits. Built and compared against another revision of the kernel by
// bench/ksuper-kernel.ts.
//   usage: ksuper-kernel q4_k|q6_k rows cols experts reps nact,nact,...
//   prints per row count: "n <rows> <min CPU ms> <hash>"
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

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s q4_k|q6_k rows cols experts reps nact,nact,...\n", argv[0]);
    return 2;
  }
  const int type = std::string(argv[1]) == "q6_k" ? ir::GGML_Q6_K : ir::GGML_Q4_K;
  const int rows = std::atoi(argv[2]), cols = std::atoi(argv[3]), experts = std::atoi(argv[4]), reps = std::atoi(argv[5]);
  if (rows < 1 || cols < 256 || cols % 256 != 0 || experts < 1 || reps < 1) {
    std::fprintf(stderr, "rows, experts and reps must be positive, cols a multiple of 256\n");
    return 2;
  }
  const size_t block = ksuper_block_bytes(type);
  const int64_t nsb = cols / 256;
  const size_t wrow = size_t(nsb) * block;
  std::vector<uint8_t> w = random_ksuper_blocks(type, size_t(experts) * size_t(rows) * size_t(nsb));
  constexpr int kMaxAct = 64;
  const std::vector<ir::block_q8_K> act = random_q8k_blocks(size_t(kMaxAct) * size_t(nsb));
  std::vector<float> y(size_t(kMaxAct) * size_t(rows));
  std::string list = argv[6];
  for (size_t at = 0; at < list.size();) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const int n = std::atoi(list.substr(at, comma - at).c_str());
    at = comma + 1;
    if (n < 1 || n > kMaxAct) {
      std::fprintf(stderr, "nact must be 1..%d\n", kMaxAct);
      return 2;
    }
    uint64_t hash = 1469598103934665603ull;  // FNV-1a over every output's bits, all experts
    auto pass = [&](bool hashed) {
      for (int e = 0; e < experts; e++) {
        ir::TileArgs t{};
        t.wtype = type;
        t.k = cols;
        t.w = w.data() + size_t(e) * size_t(rows) * wrow;
        t.wrow = wrow;
        t.nw = rows;
        t.act = reinterpret_cast<const uint8_t*>(act.data());
        t.n_act = n;
        t.y = y.data();
        t.ldy = rows;
        ir::avx512::tile_ksuper_batch(t);
        if (!hashed) continue;
        for (size_t i = 0; i < size_t(n) * size_t(rows); i++) {
          uint32_t u;
          std::memcpy(&u, &y[i], 4);
          hash = (hash ^ u) * 1099511628211ull;
        }
      }
    };
    pass(true);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
      const double c0 = thread_cpu_seconds();
      pass(false);
      best = std::min(best, thread_cpu_seconds() - c0);
    }
    std::printf("n %d %.5f %016llx\n", n, best * 1e3, static_cast<unsigned long long>(hash));
  }
  return 0;
}
