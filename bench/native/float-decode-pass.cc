// A decode step's dense matmuls (F16/BF16/any type matmul takes) from the model file's own mapping: every layer's
// matrices in forward order (Q/K/V together, O, gate/up together, down) through matmul_shared_input with one
// activation row on a pool of N threads, beside pure reads of the same bytes through the same pool. The modes
// alternate round by round in one process; per mode: median and best GB per wall second and per process CPU second
// (the pool's spinning included), the median of the per-round ratios to the first mode, and a hash of the outputs'
// bits (an A/B of kernel builds must print the same hashes). On a loaded machine compare CPU-second figures, and
// builds in alternating fresh processes.
//   modes: "kernel" (the matmuls), "hot" (the kernels on 256 rows of the first matrix over and over: their rate from
//          L2), "r<streams>p<ahead>" (a pure read of every matrix: 256 KB chunks over the pool, each read as
//          `streams` parts side by side, software prefetches `ahead` bytes ahead in each, 0 for none)
//   memory: "map" (the file's mapping), "anon" / "huge" (every matrix copied to anonymous 4 KiB / 2 MiB pages),
//           "packed" (the packable matrices' packed copies, pack.h, as the engine reads Q8_0 after a batch; the pure
//           reads then read those copies)
//   head: 1 adds the output head (or the tied token embedding) as matmul_argmax, a greedy step's head
//   tensors: lines "name type offset rows cols" (absolute file offsets), from
//     npx tsx -e 'import {readGguf} from "./core/gguf/index.ts"; const g = readGguf(process.argv[1]);
//       for (const t of g.tensors) if (t.dims.length === 2) console.log(t.name, t.type, g.dataOffset + Number(t.offset), t.dims[1], t.dims[0])' FILE
//   build (from the repo root, after `npm run rebuild:native`):
//     g++ -std=c++17 -O3 -ffp-contract=off -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq \
//       -mavx512vnni -I. -DIR_SIMD_NS=avx512 bench/native/float-decode-pass.cc \
//       native/kernels/{tile_simd,tile_packed,tile_ksuper_batch,tile_bf16,tile_f16_batch,pack_shadow}.cc \
//       native/kernels/{cpu_features,expf_libm,quants,pack,dot_scalar,matmul}.cc \
//       native/{ggml_types,anonymous_memory,thread_pool,mapped_file,engine_threads}.cc \
//       build/Release/kernels_amx.a build/Release/kernels_avx2.a build/Release/kernels_ref.a -lpthread \
//       -o /tmp/float-decode-pass
//   usage: float-decode-pass FILE TENSORS [threads 2] [rounds 9] [modes kernel,r4p0] [memory map] [head 0]
#include <immintrin.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../../native/ggml_types.h"
#include "../../native/kernels/matmul.h"
#include "../../native/kernels/pack.h"
#include "../../native/mapped_file.h"
#include "../../native/thread_pool.h"


namespace {

double process_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

struct Step {
  std::vector<const ir::Matrix*> ws;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace ir;
  if (argc < 3) {
    std::fprintf(stderr, "usage: float-decode-pass FILE TENSORS [threads 2] [rounds 9] [modes kernel,r4p0] [memory map] [head 0]\n");
    return 2;
  }
  MappedFile file(argv[1]);
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 9;
  std::vector<std::string> modes;
  {
    std::stringstream ss(argc > 5 ? argv[5] : "kernel,r4p0");
    for (std::string m; std::getline(ss, m, ',');) modes.push_back(m);
  }
  std::map<std::string, Matrix> by_name;
  {
    std::ifstream in(argv[2]);
    std::string name;
    int type;
    size_t offset;
    int64_t rows, cols;
    while (in >> name >> type >> offset >> rows >> cols) by_name[name] = Matrix{file.data() + offset, type, rows, cols};
  }
  const std::string memory = argc > 6 ? argv[6] : "map";
  const bool with_head = argc > 7 && std::atoi(argv[7]) != 0;
  ThreadPool pool(threads);
  PackedWeights packed;
  if (memory == "packed") {
    std::vector<Matrix*> all;
    for (auto& [name, m] : by_name) all.push_back(&m);
    packed.attach_all(all, pool, [](Matrix&) {});
  } else if (memory != "map") {
    for (auto& [name, m] : by_name) {
      const size_t n = size_t(m.rows) * row_bytes(m.type, m.cols);
      const size_t len = (n + (2u << 20) - 1) & ~size_t((2u << 20) - 1);
      void* p = mmap(nullptr, len + (2u << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      auto* q = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + (2u << 20) - 1) & ~uintptr_t((2u << 20) - 1));
      madvise(q, len, memory == "huge" ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
      std::memcpy(q, m.data, n);
      m.data = q;
    }
  }
  std::vector<Step> steps;
  size_t bytes = 0;
  // What a pass reads of a matrix: its packed copy where it has one, then the rows past it.
  auto weight_spans = [](const Matrix& m) {
    const size_t rb = row_bytes(m.type, m.cols);
    const int64_t in_copy = m.packed ? m.rows / kPackRows * kPackRows : 0;
    std::vector<std::pair<const uint8_t*, size_t>> spans;
    if (in_copy) spans.push_back({m.packed, packed_bytes(m.type, m.rows, m.cols)});
    if (in_copy < m.rows) spans.push_back({m.data + size_t(in_copy) * rb, size_t(m.rows - in_copy) * rb});
    return spans;
  };
  int64_t max_cols = 0, max_rows = 0;
  for (int l = 0;; l++) {
    const std::string p = "blk." + std::to_string(l) + ".";
    if (!by_name.count(p + "attn_q.weight")) break;
    for (const auto& group : std::vector<std::vector<std::string>>{{"attn_q", "attn_k", "attn_v"}, {"attn_output"}, {"ffn_gate", "ffn_up"}, {"ffn_down"}}) {
      Step s;
      for (const auto& n : group) {
        const Matrix& m = by_name.at(p + n + ".weight");
        s.ws.push_back(&m);
        bytes += size_t(m.rows) * row_bytes(m.type, m.cols);
        max_cols = std::max(max_cols, m.cols);
        max_rows = std::max(max_rows, m.rows);
      }
      steps.push_back(s);
    }
  }
  const Matrix* head = nullptr;
  if (with_head) {
    head = by_name.count("output.weight") ? &by_name.at("output.weight") : &by_name.at("token_embd.weight");
    bytes += size_t(head->rows) * row_bytes(head->type, head->cols);
    max_cols = std::max(max_cols, head->cols);
  }
  std::printf("%zu matmuls, %.3f GB, %d threads\n", steps.size(), double(bytes) * 1e-9, threads);
  std::vector<float> x(static_cast<size_t>(max_cols));
  uint64_t seed = 88172645463325252ull;
  for (float& v : x) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    v = float(int64_t(seed % 2000001) - 1000000) * 1e-6f;
  }
  std::vector<std::vector<float>> ys(3, std::vector<float>(size_t(max_rows)));
  volatile uint64_t sink = 0;
  std::vector<const Matrix*> all;
  for (const Step& s : steps) all.insert(all.end(), s.ws.begin(), s.ws.end());
  if (head) all.push_back(head);
  auto read_pass = [&](int streams, int ahead) {
    for (const Matrix* m : all)
      for (const auto& [data, n] : weight_spans(*m)) {
        constexpr size_t kChunk = 256 << 10;
        const int chunks = int((n + kChunk - 1) / kChunk);
        std::vector<uint64_t> part(size_t(pool.size()) * 8);
        pool.parallel_for(chunks, [&](int c, int th) {
          const uint8_t* p = data + size_t(c) * kChunk;
          const size_t len = (std::min(kChunk, n - size_t(c) * kChunk) / size_t(streams)) & ~size_t(255);
          __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
          for (size_t i = 0; i < len; i += 256)
            for (int st = 0; st < streams; st++) {
              const uint8_t* q = p + size_t(st) * len + i;
              if (ahead) {
                _mm_prefetch(reinterpret_cast<const char*>(q + ahead), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(q + ahead + 64), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(q + ahead + 128), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(q + ahead + 192), _MM_HINT_T0);
              }
              a0 = _mm512_add_epi32(a0, _mm512_loadu_si512(q));
              a1 = _mm512_add_epi32(a1, _mm512_loadu_si512(q + 64));
              a2 = _mm512_add_epi32(a2, _mm512_loadu_si512(q + 128));
              a3 = _mm512_add_epi32(a3, _mm512_loadu_si512(q + 192));
            }
          part[size_t(th) * 8] += uint64_t(_mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3))));
        });
        for (uint64_t v : part) sink = sink + v;
      }
  };
  auto kernel_pass = [&](uint64_t* hash) {
    for (const Step& s : steps) {
      float* outs[3] = {ys[0].data(), ys[1].data(), ys[2].data()};
      matmul_shared_input(pool, s.ws.data(), outs, int(s.ws.size()), x.data(), 1);
      if (hash)
        for (size_t j = 0; j < s.ws.size(); j++)
          for (int64_t i = 0; i < s.ws[j]->rows; i++) {
            uint32_t b;
            std::memcpy(&b, &ys[j][size_t(i)], 4);
            *hash = (*hash ^ b) * 1099511628211ull;
          }
    }
    if (head) {
      int32_t best = -1;
      matmul_argmax(pool, *head, x.data(), 1, &best);
      if (hash) *hash = (*hash ^ uint32_t(best)) * 1099511628211ull;
    }
  };
  // The kernels on 256 rows of the first matrix over and over (1 MB at 2048 columns, in L2): their compute rate.
  Matrix hot = *steps[0].ws[0];
  hot.rows = 256;
  auto hot_pass = [&] {
    const Matrix* w[1] = {&hot};
    float* outs[1] = {ys[0].data()};
    for (size_t done = 0; done < bytes; done += size_t(hot.rows) * row_bytes(hot.type, hot.cols))
      matmul_shared_input(pool, w, outs, 1, x.data(), 1);
  };
  struct Stat { std::vector<double> wall, cpu; uint64_t hash = 1469598103934665603ull; };
  std::vector<Stat> stats(modes.size());
  kernel_pass(nullptr);  // pages in the mapping
  for (int rep = 0; rep < reps; rep++)
    for (size_t mi = 0; mi < modes.size(); mi++) {
      const std::string& mode = modes[mi];
      // "kernel": the matmuls; "hot": the kernels on hot_pass's rows; "r<streams>p<ahead>": a pure read
      const bool read = mode[0] == 'r', in_cache = mode == "hot";
      int streams = 1, ahead = 0;
      if (read) std::sscanf(mode.c_str(), "r%dp%d", &streams, &ahead);
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = process_cpu_seconds();
      if (read) read_pass(streams, ahead);
      else if (in_cache) hot_pass();
      else kernel_pass(rep == 0 ? &stats[mi].hash : nullptr);
      const double c1 = process_cpu_seconds();
      const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      stats[mi].wall.push_back(double(bytes) * 1e-9 / w);
      stats[mi].cpu.push_back(double(bytes) * 1e-9 / (c1 - c0));
    }
  // Per round, each mode's CPU rate over the first mode's (the rounds alternate, so a pair shares the machine's
  // moment): the median of those ratios is steadier than the ratio of the medians on a loaded machine.
  std::vector<double> ratio(modes.size());
  for (size_t mi = 0; mi < modes.size(); mi++) {
    std::vector<double> r;
    for (int rep = 0; rep < reps; rep++) r.push_back(stats[mi].cpu[size_t(rep)] / stats[0].cpu[size_t(rep)]);
    std::sort(r.begin(), r.end());
    ratio[mi] = r[r.size() / 2];
  }
  for (size_t mi = 0; mi < modes.size(); mi++) {
    auto& s = stats[mi];
    std::sort(s.wall.begin(), s.wall.end());
    std::sort(s.cpu.begin(), s.cpu.end());
    std::printf("%-10s wall GB/s median %.2f best %.2f | per CPU-s median %.2f best %.2f, x%.3f | hash %016llx\n", modes[mi].c_str(),
                s.wall[s.wall.size() / 2], s.wall.back(), s.cpu[s.cpu.size() / 2], s.cpu.back(), ratio[mi],
                static_cast<unsigned long long>(s.hash));
  }
}
