import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { native } from "../../../core/native.ts";
import { runNode } from "../../helpers/cli.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats, randomWeights } from "./random-weights.ts";

// matmul_argmax (native/kernels/matmul.cc) must give exactly the index that scanning matmul's output gives — the
// first of equal maxima — also where its estimate cannot tell rows apart: duplicated rows (exact ties), rows that
// differ by one quantization step, and rows whose real dot products are equal but whose float sums differ in the
// last bits (weight blocks 1 and 2 swapped where the activation's blocks 1 and 2 are equal), which only the estimate's
// error bound keeps among the candidates.
// The AVX2 variant estimates from a Q8_0 matrix's own rows (2+ activation rows): the same checks run in a child
// process whose kernels are capped to it (the variant is chosen once per process).
const noAvx512 = !k.cpuFeatures().variants.includes("avx512") && "the estimate runs on packed Q8_0 (AVX-512)";
const AVX2_CHILD = "INFER_REPL_ARGMAX_TEST_AVX2";
const avx2Child = process.env[AVX2_CHILD] === "1";

function scanArgmax(y: Float32Array, rows: number, nAct: number): number[] {
  return Array.from({ length: nAct }, (_, m) => {
    let best = -1, value = -Infinity;
    for (let r = 0; r < rows; r++) if (y[m * rows + r]! > value) { value = y[m * rows + r]!; best = r; }
    return best;
  });
}

/** A Q8_0 matrix whose rows are copies of a few distinct rows, some with one weight nudged by one step. */
function nearTies(rand: () => number, rows: number, cols: number): Uint8Array {
  const rowBytes = (cols / 32) * 34;
  const base = randomWeights(rand, GgmlType.Q8_0, 4, cols);
  const w = new Uint8Array(rows * rowBytes);
  for (let r = 0; r < rows; r++) {
    w.set(base.subarray((r % 4) * rowBytes, (r % 4 + 1) * rowBytes), r * rowBytes);
    if (r % 3 === 2 && cols >= 96) { // swap blocks 1 and 2 (the activations repeat block 1 as block 2)
      const b1 = w.slice(r * rowBytes + 34, r * rowBytes + 68);
      w.copyWithin(r * rowBytes + 34, r * rowBytes + 68, r * rowBytes + 102);
      w.set(b1, r * rowBytes + 68);
    }
    if (r % 3 === 1) { // nudge one weight of one block by one step (clamped to int8)
      const at = r * rowBytes + Math.floor(rand() * (cols / 32)) * 34 + 2 + Math.floor(rand() * 32);
      const v = (w[at]! << 24) >> 24;
      w[at] = (v === 127 ? 126 : v + 1) & 0xff;
    }
  }
  return w;
}

/** Q8_0 argmax against the scan of matmul's output on random, tied and nearly tied rows: packed on AVX-512, from the
 *  rows themselves on AVX2. */
function q8Ties(variant: "avx512" | "avx2"): void {
  const rand = prng(515);
  for (const [rows, cols] of [[16, 32], [48, 288], [64, 288], [512, 288], [2048, 768]] as const) {
    for (const kind of ["random", "near ties"] as const) {
      const w = kind === "random" ? randomWeights(rand, GgmlType.Q8_0, rows, cols) : nearTies(rand, rows, cols);
      const packed = variant === "avx512" ? k.pack(GgmlType.Q8_0, w, rows, cols)! : undefined;
      for (const nAct of [1, 3, 4, 9, 16]) {
        const x = randomFloats(rand, nAct * cols);
        if (kind === "near ties" && cols >= 96) for (let m = 0; m < nAct; m++) x.copyWithin(m * cols + 64, m * cols + 32, m * cols + 64);
        const want = scanArgmax(k.matmul(GgmlType.Q8_0, w, rows, cols, x, nAct, variant, packed), rows, nAct);
        assert.deepEqual(Array.from(k.matmulArgmax(GgmlType.Q8_0, w, rows, cols, x, nAct, packed)), want, `${variant} ${kind} ${rows}x${cols} nAct ${nAct}`);
      }
    }
  }
}

/** Rows 0..14 are one row; row 15 is it with blocks 1 and 2 swapped, and every activation row repeats its block 1 as
 *  block 2: all 16 rows have the same real dot product, and only the float order tells them apart, so which row
 *  wins is decided in the last bits, where the estimate's own order may disagree. */
function q8FloatOrder(variant: "avx512" | "avx2"): void {
  const rand = prng(517);
  const rows = 16, cols = 288, rowBytes = (cols / 32) * 34, nAct = 8;
  let checked = 0;
  for (let trial = 0; trial < 60; trial++) {
    const base = randomWeights(rand, GgmlType.Q8_0, 1, cols);
    const w = new Uint8Array(rows * rowBytes);
    for (let r = 0; r < rows; r++) w.set(base, r * rowBytes);
    w.set(base.subarray(68, 102), 15 * rowBytes + 34);
    w.set(base.subarray(34, 68), 15 * rowBytes + 68);
    const x = randomFloats(rand, nAct * cols);
    for (let m = 0; m < nAct; m++) x.copyWithin(m * cols + 64, m * cols + 32, m * cols + 64);
    const packed = variant === "avx512" ? k.pack(GgmlType.Q8_0, w, rows, cols)! : undefined;
    const want = scanArgmax(k.matmul(GgmlType.Q8_0, w, rows, cols, x, nAct, variant, packed), rows, nAct);
    checked += want.filter((i) => i === 15).length;
    assert.deepEqual(Array.from(k.matmulArgmax(GgmlType.Q8_0, w, rows, cols, x, nAct, packed)), want, `${variant} trial ${trial}`);
  }
  assert.ok(checked > 0, "some trials must have the swapped row ahead in float");
}

if (avx2Child) {
  q8Ties("avx2");
  q8FloatOrder("avx2");
  console.log("avx2 argmax checks passed");
}

test("Q8_0 packed: argmax equals the scan of matmul's output on random, tied and nearly tied rows", { skip: noAvx512 || avx2Child }, () => {
  q8Ties("avx512");
});

test("Q8_0 on AVX2 (the estimate from the rows themselves): random, tied, nearly tied and float-order-tied rows", { skip: avx2Child || (!k.cpuFeatures().variants.includes("avx2") && "needs AVX2") }, async () => {
  const r = await runNode(["--import", "tsx", fileURLToPath(import.meta.url)], "", { [AVX2_CHILD]: "1", INFER_REPL_KERNELS: "avx2" });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /avx2 argmax checks passed/);
});

test("without a packed Q8_0 matrix it is the scan of the full output; NaN rows give -1", () => {
  const rand = prng(516);
  for (const type of [GgmlType.F32, GgmlType.Q4_0, GgmlType.Q8_0]) {
    const rows = 40, cols = 64, nAct = 3;
    const w = randomWeights(rand, type, rows, cols);
    const x = randomFloats(rand, nAct * cols);
    assert.deepEqual(Array.from(k.matmulArgmax(type, w, rows, cols, x, nAct)), scanArgmax(k.matmul(type, w, rows, cols, x, nAct), rows, nAct));
  }
  const w = randomWeights(rand, GgmlType.F32, 8, 32);
  assert.deepEqual(Array.from(k.matmulArgmax(GgmlType.F32, w, 8, 32, new Float32Array(32).fill(NaN), 1)), [-1]);
});

test("K-quant heads over many row bands and two threads: the band maxima combine to the scan's first maximum", () => {
  // One activation row splits a matrix into guided bands (64 KB and up) taken by both threads; each band keeps its
  // own largest output. Copies of the largest row placed in other bands (before and after it) and a row of NaN
  // weights must resolve exactly as the scan does.
  const rand = prng(917);
  native.setThreads(2);
  try {
    for (const type of [GgmlType.Q6_K, GgmlType.Q4_K]) {
      const rows = 4096, cols = 256, rowBytes = type === GgmlType.Q6_K ? 210 : 144;
      const w = randomWeights(rand, type, rows, cols);
      const x = randomFloats(rand, cols);
      const first = scanArgmax(k.matmul(type, w, rows, cols, x, 1), rows, 1)[0]!;
      const top = w.slice(first * rowBytes, (first + 1) * rowBytes);
      for (const at of [3500, 2900, Math.max(0, first - 700), 5]) w.set(top, at * rowBytes);
      const y = k.matmul(type, w, rows, cols, x, 1);
      assert.ok(y.filter((v) => v === y[first]).length >= 4, "the copies tie");
      assert.deepEqual(Array.from(k.matmulArgmax(type, w, rows, cols, x, 1)), scanArgmax(y, rows, 1), `${GgmlType[type]}`);
    }
  } finally {
    native.setThreads(availableParallelism());  // the addon's default
  }
});

test("Q8_0 packed: rows equal in exact arithmetic but not in float are told apart by the exact values", { skip: noAvx512 || avx2Child }, () => {
  q8FloatOrder("avx512");
});

/** Float rows: copies of 4 base rows, some nudged by one ulp in one weight, some with weights 1 and 2 swapped
 *  (the activations repeat element 1 as element 2: the same real dot, another float sum). */
function floatNearTies(rand: () => number, rows: number, cols: number): Float32Array {
  const base = randomFloats(rand, 4 * cols);
  const w = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    w.set(base.subarray((r % 4) * cols, (r % 4 + 1) * cols), r * cols);
    if (r % 3 === 1) {
      const at = r * cols + Math.floor(rand() * cols);
      w[at] = w[at]! * (1 + 2 ** -23);
    }
    if (r % 3 === 2) [w[r * cols + 1], w[r * cols + 2]] = [w[r * cols + 2]!, w[r * cols + 1]!];
  }
  return w;
}

/** A float row matrix as the bytes of a GGUF tensor of `type` (F32, F16 or BF16). */
function floatBytes(type: GgmlType, w: Float32Array): Uint8Array {
  if (type === GgmlType.F32) return new Uint8Array(w.buffer.slice(0));
  return k.quantizeRow(type, w);
}

test("float heads (F32, F16, BF16): argmax through the Q8_0 estimate copy equals the scan of matmul's output", { skip: noAvx512 }, () => {
  const rand = prng(518);
  for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.BF16]) {
    for (const [rows, cols] of [[16, 32], [64, 288], [1024, 288]] as const) {
      for (const kind of ["random", "near ties"] as const) {
        const wf = kind === "random" ? randomFloats(rand, rows * cols) : floatNearTies(rand, rows, cols);
        const w = floatBytes(type, wf);
        for (const nAct of [1, 3, 9]) {
          const x = randomFloats(rand, nAct * cols);
          if (kind === "near ties") for (let m = 0; m < nAct; m++) x[m * cols + 2] = x[m * cols + 1]!;
          const want = scanArgmax(k.matmul(type, w, rows, cols, x, nAct, "avx512"), rows, nAct);
          assert.deepEqual(Array.from(k.matmulArgmax(type, w, rows, cols, x, nAct)), want, `type ${type} ${kind} ${rows}x${cols} nAct ${nAct}`);
        }
      }
    }
  }
});

test("float heads: rows equal in exact arithmetic but not in float are told apart by the exact values", { skip: noAvx512 }, () => {
  // All 16 rows hold the same weights in different orders over positions whose activations are equal: one real
  // dot product, 16 float sums; the winner is decided in the last bits, by the exact values only.
  const rand = prng(519);
  const rows = 16, cols = 288, nAct = 4;
  let moved = 0;
  for (let trial = 0; trial < 40; trial++) {
    const base = randomFloats(rand, cols);
    const w = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      w.set(base, r * cols);
      // rotate elements 0..15 by r: the activations below are equal there
      for (let j = 0; j < 16; j++) w[r * cols + j] = base[(j + r) % 16]!;
    }
    const x = randomFloats(rand, nAct * cols);
    for (let m = 0; m < nAct; m++) x.fill(x[m * cols]!, m * cols, m * cols + 16);
    const bytes = floatBytes(GgmlType.F32, w);
    const want = scanArgmax(k.matmul(GgmlType.F32, bytes, rows, cols, x, nAct, "avx512"), rows, nAct);
    moved += want.filter((i) => i !== 0).length;
    assert.deepEqual(Array.from(k.matmulArgmax(GgmlType.F32, bytes, rows, cols, x, nAct)), want, `trial ${trial}`);
  }
  assert.ok(moved > 0, "the float order must make some row other than the first win");
});
