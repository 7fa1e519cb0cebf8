import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { type KernelVariant, nativeKernels as k } from "../../../core/native-kernels.ts";
import { native } from "../../../core/native.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats, randomWeights, typeName } from "./random-weights.ts";

// F16/BF16 weights against 2+ activation rows sum in llamafile's tinyBLAS order (what llama.cpp runs for them): one
// 16-lane accumulator per (weight row, activation row) pair, steps in k order, one reduction at the end. The AVX-512
// kernel (native/kernels/tinyblas_gemm.h) blocks rows, activations and k for the caches; these tests fail if the
// blocking changes any pair's chain: across k passes (cols > 2048), activation blocks (100 rows of 4160), weight
// sub-bands between the passes (200 rows: bands of 28 = 16 + 12 rows, or more with fewer threads), partial register
// tiles (rows and activation counts not multiples of 4 and 6), or with what else is in the batch. A tile's sums are
// reduced four activation rows at a time (reduce_add_16): 3, 5, 6 and 19 rows give tiles of 3, 5, 6 and 5/4 rows
// (the rows spread evenly over the fewest tiles of <= 6), 130 rows of 2048 two blocks of 65. AVX-512's F16 batches of
// 64+ rows (gemm_act_panel) block by weight bands instead, each tile's k in passes of 1024 through its f32 activation
// panel: 100 rows of 4160 in passes of 1024, 1024, 1024, 1024 and 64; 130 rows of 2048 in two.
// (rows a multiple of 4 and cols of 16 (F16) / 32 (BF16): shapes tinyBLAS takes.)
const SHAPES: [rows: number, cols: number, nAct: number][] = [
  [8, 64, 2], [12, 288, 7], [36, 2048, 13], [20, 4160, 9], [8, 4160, 100], [200, 4160, 13],
  [8, 64, 3], [4, 96, 5], [8, 128, 6], [16, 256, 19], [8, 2048, 130],
];

/** Each activation row rounded to `type` and widened back, as the products see it. */
function rounded(type: GgmlType, x: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let m = 0; m < x.length / cols; m++)
    out.set(k.dequantizeRow(type, k.quantizeActivations(type, x.subarray(m * cols, (m + 1) * cols)), cols), m * cols);
  return out;
}

function widened(type: GgmlType, w: Uint8Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols), rowBytes = w.length / rows;
  for (let r = 0; r < rows; r++) out.set(k.dequantizeRow(type, w.subarray(r * rowBytes, (r + 1) * rowBytes), cols), r * cols);
  return out;
}

/** Row m of a batch alone beside one other row (its neighbour, or row 0): the bits must not depend on the rest. */
function assertRowsIndependent(type: GgmlType, w: Uint8Array, rows: number, cols: number, x: Float32Array, nAct: number, y: Float32Array,
  variant?: KernelVariant) {
  for (const m of [0, nAct >> 1, nAct - 1]) {
    const other = m === 0 ? 1 : 0;
    const pair = new Float32Array(2 * cols);
    pair.set(x.subarray(other * cols, (other + 1) * cols), 0);
    pair.set(x.subarray(m * cols, (m + 1) * cols), cols);
    const yp = k.matmul(type, w, rows, cols, pair, 2, variant);
    assert.deepEqual(yp.subarray(rows), y.subarray(m * rows, (m + 1) * rows), `row ${m} of ${nAct} against the same row in a batch of 2`);
  }
}

/** type's batches against the F32 kernel's tinyBLAS sums of the widened weights and rounded activations. */
function assertWidenedTinyblas(type: GgmlType, seed: number, shapes = SHAPES) {
  const rand = prng(seed);
  for (const [rows, cols, nAct] of shapes) {
    const w = randomWeights(rand, type, rows, cols);
    const x = randomFloats(rand, nAct * cols);
    const y = k.matmul(type, w, rows, cols, x, nAct);
    const wf = widened(type, w, rows, cols);
    const want = k.matmul(GgmlType.F32, new Uint8Array(wf.buffer), rows, cols, rounded(type, x, cols), nAct);
    assert.deepEqual(y, want, `${typeName(type)} ${rows}x${cols}, ${nAct} rows`);
    assertRowsIndependent(type, w, rows, cols, x, nAct, y);
  }
}

test("F16 batches: every row equals the F32 kernel's tinyBLAS sums of the widened weights, whatever else is in the batch", () => {
  assertWidenedTinyblas(GgmlType.F16, 41);
});

// AVX-512's weight bands for 64+ activation rows (half the L2 of 32768-element rows: 16 rows at a 2 MB L2, 8 at 1 MB
// or unknown): one thread splits the matmul into four ranges of 64 rows, each of several bands, every band reading the
// same activation tiles again.
test("F16 batches on one thread: a range of weight rows longer than a band sums as the F32 kernel does", () => {
  native.setThreads(1);
  try {
    assertWidenedTinyblas(GgmlType.F16, 43, [[256, 32768, 65]]);
  } finally {
    native.setThreads(availableParallelism());  // the addon's default
  }
});

// vdpbf16ps as the zen4 build computes it: per f32 lane, the odd element's product added and rounded, then the even
// one's (each bf16 product is exact in f32; Intel's definition, and what llama.cpp's zen4 library gets from the AMD
// core), then GCC's _mm512_reduce_add_ps tree. In double, every addition is exact but for rare double roundings,
// which a fixed seed either hits or not. Every variant gives these bits: without AVX512-BF16 (AVX2, scalar) by the
// instruction's twin of two f32 FMAs (native/kernels/bf16_twin.h).
function tinyblasBf16(w: Float32Array, a: Float32Array, cols: number): number {
  const f = Math.fround, acc = new Array<number>(16).fill(0);
  for (let l = 0; l < cols; l += 32)
    for (let j = 0; j < 16; j++) acc[j] = f(f(acc[j]! + w[l + 2 * j + 1]! * a[l + 2 * j + 1]!) + w[l + 2 * j]! * a[l + 2 * j]!);
  let v = acc;
  for (const half of [8, 4, 2, 1]) v = Array.from({ length: half }, (_, i) => f(v[i]! + v[i + half]!));
  return v[0]!;
}

for (const variant of k.cpuFeatures().variants) {
  test(`BF16 batches (${variant}): every row equals tinyBLAS's vdpbf16ps chains, whatever else is in the batch`, () => {
    const rand = prng(43);
    for (const [rows, cols, nAct] of SHAPES) {
      const w = randomWeights(rand, GgmlType.BF16, rows, cols);
      const x = randomFloats(rand, nAct * cols);
      const y = k.matmul(GgmlType.BF16, w, rows, cols, x, nAct, variant);
      const wf = widened(GgmlType.BF16, w, rows, cols), a = rounded(GgmlType.BF16, x, cols);
      for (let m = 0; m < nAct; m++)
        for (let r = 0; r < rows; r++) {
          const want = tinyblasBf16(wf.subarray(r * cols, (r + 1) * cols), a.subarray(m * cols, (m + 1) * cols), cols);
          assert.equal(y[m * rows + r], want, `${rows}x${cols}, ${nAct} rows: act ${m} row ${r}`);
        }
      assertRowsIndependent(GgmlType.BF16, w, rows, cols, x, nAct, y, variant);
    }
  });
}

// Per-row orders (gemmOrder bits, a step's rows: a prompt's rows in tinyBLAS's order beside decode tokens, each a
// lone row to llama.cpp): a row marked 8 gets the bits of the same row in an all-batch matmul, an unmarked row the
// bits it has alone (ggml_vec_dot's order), in the same call. Row counts and lengths cross the kernels' passes
// (4 rows a pass for f32/f16, 8 for bf16) and their leftover elements (cols not a multiple of 64); a lone row meets
// rows of 2048+ elements (F16/BF16: 1024+) 4 at a time (lone_row_runs: 13 rows leave one over, 10 two).
const FLOAT_BATCH = 8;
test("float matmuls: each row takes its own order (tinyBLAS when marked, vec_dot's alone otherwise), whatever the others", () => {
  const rand = prng(47);
  for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.BF16]) {
    let ordersDiffer = false;
    for (const [rows, cols, nAct] of [[8, 64, 3], [12, 288, 13], [16, 4160, 9], [8, 100, 6], [13, 2100, 5], [10, 1040, 3]] as const) {
      const w = randomWeights(rand, type, rows, cols);
      const x = randomFloats(rand, nAct * cols);
      const orders = Uint8Array.from({ length: nAct }, (_, m) => (m % 3 === 1 ? FLOAT_BATCH : 0));
      const y = k.matmul(type, w, rows, cols, x, nAct, "auto", undefined, orders);
      const batch = k.matmul(type, w, rows, cols, x, nAct, "auto", undefined, new Uint8Array(nAct).fill(FLOAT_BATCH));
      for (let m = 0; m < nAct; m++) {
        const want = orders[m] ? batch.subarray(m * rows, (m + 1) * rows) : k.matmul(type, w, rows, cols, x.subarray(m * cols, (m + 1) * cols), 1);
        assert.deepEqual(y.subarray(m * rows, (m + 1) * rows), want, `${typeName(type)} ${rows}x${cols}, row ${m} of ${nAct} (order ${orders[m]})`);
      }
      const lone = k.matmul(type, w, rows, cols, x, nAct, "auto", undefined, new Uint8Array(nAct));
      // (100 columns: tinyBLAS's tiles do not fit, so llama.cpp sums every row in vec_dot's order)
      if (cols % 32 === 0) ordersDiffer ||= lone.some((v, i) => v !== batch[i]);
    }
    // Somewhere, not in every shape: BF16's 8x64 sums (4 exact products a lane in 16 lanes) are often exact in
    // either order.
    assert.ok(ordersDiffer, `${typeName(type)}: the two orders should differ somewhere (else this test shows nothing)`);
  }
});

// 2+ lone f32 rows against bands of 16+ weight rows (matrices of a few hundred rows: matmul splits smaller ones into
// 4-row bands) take native/kernels/tile_simd.cc's lane_rows: 16 weight rows' pairs side by side in vector lanes (the
// horizontal sums level by level across vectors, the k % 64 leftover products of 16 rows transposed). Each pair must
// keep the bits vec_dot_rows gives it alone (one activation row): leftovers of 0-56 elements, bands that are not a
// multiple of 16 rows (the rest take vec_dot_rows), 2-13 activation rows (2 and 3: a speculative verify of k 1 or 2) (passes of 6 and their rest), values over
// several orders of magnitude so that any other addition order shows.
test("f32 lone rows, 16 weight rows in vector lanes: every pair has the bits of its activation row alone", () => {
  const rand = prng(53);
  const wide = (n: number) => randomFloats(rand, n).map((v) => v * Math.exp(6 * (rand() - 0.5)));
  for (const [rows, cols, nAct] of [[320, 288, 4], [300, 288, 5], [320, 288, 2], [304, 288, 3], [256, 776, 2], [272, 40, 3], [256, 776, 7], [260, 40, 9], [512, 120, 13], [272, 2048, 6], [256, 56, 4], [256, 8, 5]] as const) {
    const w = new Uint8Array(wide(rows * cols).buffer);
    const x = wide(nAct * cols);
    const y = k.matmul(GgmlType.F32, w, rows, cols, x, nAct, "auto", undefined, new Uint8Array(nAct));
    for (let m = 0; m < nAct; m++) {
      const alone = k.matmul(GgmlType.F32, w, rows, cols, x.subarray(m * cols, (m + 1) * cols), 1);
      assert.deepEqual(y.subarray(m * rows, (m + 1) * rows), alone, `${rows}x${cols}, row ${m} of ${nAct}`);
    }
  }
});
