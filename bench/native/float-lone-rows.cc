// One thread running the AVX-512 tile on f32 weights in vec_dot's order (TileArgs::single_row: plain decoding's one
// activation row, a speculative verify's few) over stories15M's layer shapes (wq wk wv wo 288x288, w1 w3 768x288, w2
// 288x768), `layers` copies of them: 6 is the f32 target's 24 MB, read from L3/memory as in the model; 1-4 fit the
// L3. Prints per activation row count (default 1 and 5): the smallest and median CPU time of a pass over all matrices, and a
// hash of the outputs' bits (an A/B of kernel builds must print the same hashes).
//   build (from the repo root, after `npm run rebuild:native`, whose AVX2/reference libraries it links):
//     g++ -std=c++17 -O3 -ffp-contract=off -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq \
//       -mavx512vnni -I. -DIR_SIMD_NS=avx512 bench/native/float-lone-rows.cc \
//       native/kernels/{tile_simd,tile_packed,tile_ksuper_batch,tile_bf16,tile_f16_batch,pack_shadow}.cc \
//       native/kernels/{cpu_features,expf_libm,quants,pack,dot_scalar,matmul}.cc \
//       native/{ggml_types,anonymous_memory,thread_pool,mapped_file,engine_threads}.cc \
//       build/Release/kernels_avx2.a build/Release/kernels_ref.a -lpthread -o /tmp/float-lone-rows
//   usage: float-lone-rows [reps 60] [layers 6] [activation row counts 1,5]
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

float value() { return float(int64_t(xorshift_next() % 2000001) - 1000000) * 1e-6f; }

struct Weights {
  int rows, cols;
  std::vector<float> w;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace ir;
  const int reps = argc > 1 ? std::atoi(argv[1]) : 60;
  const int layers = argc > 2 ? std::atoi(argv[2]) : 6;
  const int shapes[7][2] = {{288, 288}, {288, 288}, {288, 288}, {288, 288}, {768, 288}, {768, 288}, {288, 768}};
  std::vector<Weights> ms;
  for (int l = 0; l < layers; l++)
    for (const auto& s : shapes) {
      Weights m{s[0], s[1], std::vector<float>(size_t(s[0]) * size_t(s[1]))};
      for (float& v : m.w) v = value();
      ms.push_back(std::move(m));
    }
  std::vector<float> act(8 * 768), y(8 * 768);
  for (float& v : act) v = value();
  std::vector<int> counts;
  for (const char* c = argc > 3 ? argv[3] : "1,5"; *c;) {
    counts.push_back(std::atoi(c));
    while (*c && *c != ',') c++;
    if (*c == ',') c++;
  }
  for (const int n_act : counts) {
    std::vector<double> times;
    uint64_t hash = 1469598103934665603ull;  // FNV-1a over the first pass's output bits
    for (int rep = 0; rep < reps; rep++) {
      const double t0 = thread_cpu_seconds();
      for (const Weights& m : ms) {
        TileArgs t{};
        t.wtype = GGML_F32;
        t.k = m.cols;
        t.w = reinterpret_cast<const uint8_t*>(m.w.data());
        t.wrow = size_t(m.cols) * sizeof(float);
        t.nw = m.rows;
        t.act = reinterpret_cast<const uint8_t*>(act.data());
        t.n_act = n_act;
        t.y = y.data();
        t.ldy = m.rows;
        t.single_row = true;
        avx512::tile(t);
        if (rep == 0)
          for (int i = 0; i < n_act * m.rows; i++) {
            uint32_t bits;
            std::memcpy(&bits, &y[size_t(i)], sizeof bits);
            hash = (hash ^ bits) * 1099511628211ull;
          }
      }
      times.push_back(thread_cpu_seconds() - t0);
    }
    std::sort(times.begin(), times.end());
    std::printf("n_act %d min %.3f median %.3f ms hash %016llx\n", n_act, times[0] * 1e3, times[times.size() / 2] * 1e3,
                static_cast<unsigned long long>(hash));
  }
}
