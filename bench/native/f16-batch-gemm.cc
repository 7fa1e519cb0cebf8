// One thread running the AVX-512 F16 batch kernel (tile_f16_batch: tinyBLAS's order, blocked by tinyblas_gemm.h) on
// Llama-3.2-1B's matmul shapes, f16 activation rows as matmul.cc's driver hands them over (TileArgs::act_16bit).
// Weights and activations 64-byte aligned (a GGUF file's tensors are 32-byte aligned, so no 32-byte load splits a
// line; a 16-byte-aligned std::vector split every other one). The weights of every shape but k/v (2 MB) are larger
// than L2 and come from L3; COPIES=n keeps n copies and reads another each call, from memory once n copies outgrow
// L3, as in a step. Prints per shape: GMAC per CPU-second of the smallest and the median call, and a hash of the
// first call's output bits (an A/B of kernel builds must print the same hashes).
//   build (from the repo root):
//     g++ -std=c++17 -O3 -ffp-contract=off -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq
//       -mavx512vnni -I. -DIR_SIMD_NS=avx512 bench/native/f16-batch-gemm.cc native/kernels/tile_f16_batch.cc
//       native/kernels/cpu_features.cc native/ggml_types.cc -o /tmp/f16-batch-gemm   (one command line)
//   usage: [COPIES=40] f16-batch-gemm [reps 9] [activation rows 128,512] [shapes 2048x2048,...]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../native/ggml_types.h"
#include "../../native/kernels/kernel_variants.h"
#include "thread_cpu.h"
#include "xorshift.h"

namespace {

template <class T>
struct Aligned {
  using value_type = T;
  Aligned() = default;
  template <class U>
  Aligned(const Aligned<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64)); }
  void deallocate(T* p, size_t) { std::free(p); }
  bool operator==(const Aligned&) const { return true; }
  bool operator!=(const Aligned&) const { return false; }
};
using AlignedAlloc = Aligned<uint16_t>;

uint16_t value() { return ir::fp32_to_fp16(float(int64_t(xorshift_next() % 2000001) - 1000000) * 1e-6f); }

// 64-byte aligned, as a GGUF file's tensors are (32) and never split a 32-byte load across lines.
std::vector<uint16_t, AlignedAlloc> values(size_t n) {
  std::vector<uint16_t, AlignedAlloc> v(n);
  for (uint16_t& x : v) x = value();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ir;
  const int reps = argc > 1 ? std::atoi(argv[1]) : 9;
  std::vector<int> counts;
  for (const char* c = argc > 2 ? argv[2] : "128,512"; *c;) {
    counts.push_back(std::atoi(c));
    while (*c && *c != ',') c++;
    if (*c == ',') c++;
  }
  // rows x cols: q/o, k/v, gate/up, down; or the third argument's "ROWSxCOLS,...".
  std::vector<std::pair<int, int>> shapes = {{2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}};
  if (argc > 3) {
    shapes.clear();
    for (const char* c = argv[3]; *c;) {
      char* end;
      const int rows = int(std::strtol(c, &end, 10));
      shapes.push_back({rows, int(std::strtol(end + 1, &end, 10))});
      c = *end == ',' ? end + 1 : end;
    }
  }
  for (const int n_act : counts) {
    for (const auto& [rows, cols] : shapes) {
      const std::vector<uint16_t, AlignedAlloc> w0 = values(size_t(rows) * size_t(cols)), act = values(size_t(n_act) * size_t(cols));
      // COPIES=n: the weights in n copies, call i reading copy i % n (from memory once n copies outgrow the caches).
      const size_t copies = std::getenv("COPIES") ? size_t(std::atoi(std::getenv("COPIES"))) : 1, wn = w0.size();
      std::vector<uint16_t, AlignedAlloc> w(wn * copies);
      for (size_t c = 0; c < copies; c++) std::memcpy(w.data() + c * wn, w0.data(), wn * sizeof(uint16_t));
      std::vector<float> y(size_t(n_act) * size_t(rows));
      std::vector<double> times;
      uint64_t hash = 1469598103934665603ull;  // FNV-1a over the first call's output bits
      for (int rep = 0; rep < reps; rep++) {
        TileArgs t{};
        t.wtype = GGML_F16;
        t.k = cols;
        t.w = reinterpret_cast<const uint8_t*>(w.data() + size_t(rep) % copies * wn);
        t.wrow = size_t(cols) * sizeof(uint16_t);
        t.nw = rows;
        t.act = reinterpret_cast<const uint8_t*>(act.data());
        t.n_act = n_act;
        t.y = y.data();
        t.ldy = rows;
        t.act_16bit = true;
        const double t0 = thread_cpu_seconds();
        avx512::tile_f16_batch(t);
        times.push_back(thread_cpu_seconds() - t0);
        if (rep == 0)
          for (const float v : y) {
            uint32_t bits;
            std::memcpy(&bits, &v, sizeof bits);
            hash = (hash ^ bits) * 1099511628211ull;
          }
      }
      std::sort(times.begin(), times.end());
      const double macs = double(rows) * double(cols) * n_act * 1e-9;
      std::printf("%5d x %5d, %3d rows: best %5.1f median %5.1f GMAC/CPU-s  hash %016llx\n", rows, cols, n_act,
                  macs / times[0], macs / times[times.size() / 2], static_cast<unsigned long long>(hash));
    }
  }
}
