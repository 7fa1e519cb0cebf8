import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { KERNEL_TYPES, randomFloats, randomWeights, typeName } from "./random-weights.ts";

// Token arithmetic: for quantized weights a batch row must give exactly what the same activation row alone gives
// (llama.cpp's ggml_vec_dot order, or its repacked single-row order), whichever kernel computes the batch.
// Float types are left out: llama.cpp sums one activation row and several in different orders (tinyBLAS).
const QUANT_TYPES = KERNEL_TYPES.filter(({ type }) => ![GgmlType.F32, GgmlType.F16, GgmlType.BF16].includes(type));
const MAX_ACT = 70; // past 64, and not a multiple of the 8-row passes
const ROWS = 37; // two 16-row packed groups and a tail; not a multiple of 4 or 8
const variants = k.cpuFeatures().variants;

for (const { type, cols: colsList } of QUANT_TYPES) {
  test(`${typeName(type)}: every row of a batch of 1..${MAX_ACT} activation rows equals that row alone, bit for bit (${variants.join(", ")})`, () => {
    const rand = prng(3000 + type);
    for (const cols of colsList.filter((c) => c <= 4096).slice(-2)) {
      const w = randomWeights(rand, type, ROWS, cols);
      const packed = k.pack(type, w, ROWS, cols) ?? undefined; // null for types without a packed form
      const x = randomFloats(rand, MAX_ACT * cols);
      for (const v of variants) {
        const alone = Array.from({ length: MAX_ACT }, (_, m) => k.matmul(type, w, ROWS, cols, x.subarray(m * cols, (m + 1) * cols), 1, v, packed));
        for (let nAct = 1; nAct <= MAX_ACT; nAct++) {
          const y = k.matmul(type, w, ROWS, cols, x.subarray(0, nAct * cols), nAct, v, packed);
          for (let m = 0; m < nAct; m++)
            for (let r = 0; r < ROWS; r++)
              if (!Object.is(y[m * ROWS + r], alone[m]![r]))
                assert.fail(`${v} cols ${cols} nAct ${nAct} act ${m} row ${r}: batch ${y[m * ROWS + r]} vs alone ${alone[m]![r]}`);
        }
      }
    }
  });
}

// The K-quant batch kernel decodes weights in registers for up to 16 activation rows (passes of 1..8; Q4_K and Q6_K:
// one pass of them all, over groups of 16 weight rows and ranges of super-blocks) and through a scratch beyond: around
// those boundaries, with weight-row counts that leave partial bands and groups, an odd number of super-blocks per
// row and several ranges of them (4096 columns), every row keeps its lone bits.
test("K-quants: 1..17, 24 and 33 activation rows against 1, 5, 19 and 21 weight rows equal each row alone, bit for bit", () => {
  const rand = prng(4242);
  for (const type of [GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K]) {
    for (const [rows, cols] of [[1, 256], [5, 1280], [19, 768], [21, 4096]] as const) {
      const w = randomWeights(rand, type, rows, cols);
      const x = randomFloats(rand, 33 * cols);
      const alone = Array.from({ length: 33 }, (_, m) => k.matmul(type, w, rows, cols, x.subarray(m * cols, (m + 1) * cols), 1));
      for (const nAct of [...Array.from({ length: 17 }, (_, i) => i + 1), 24, 33]) {
        const y = k.matmul(type, w, rows, cols, x.subarray(0, nAct * cols), nAct);
        for (let m = 0; m < nAct; m++)
          for (let r = 0; r < rows; r++)
            if (!Object.is(y[m * rows + r], alone[m]![r]))
              assert.fail(`${typeName(type)} ${rows}x${cols} nAct ${nAct} act ${m} row ${r}: batch ${y[m * rows + r]} vs alone ${alone[m]![r]}`);
      }
    }
  }
});

// Q4_K and Q6_K rows of the single-row order past 16 (up to 64) run as several balanced wide passes over blocks of
// weight rows kept in L2 (a few hundred rows at 2048 columns): with blocks and passes both partial, every row keeps
// its lone bits.
test("Q4_K, Q6_K: 17..64 activation rows as several passes over blocks of 400 weight rows equal each row alone", () => {
  const rand = prng(777);
  const rows = 400, cols = 2048;
  for (const type of [GgmlType.Q4_K, GgmlType.Q6_K]) {
    const w = randomWeights(rand, type, rows, cols);
    const x = randomFloats(rand, 65 * cols);
    const alone = Array.from({ length: 65 }, (_, m) => k.matmul(type, w, rows, cols, x.subarray(m * cols, (m + 1) * cols), 1));
    for (const nAct of [17, 25, 32, 49, 64, 65]) {
      const y = k.matmul(type, w, rows, cols, x.subarray(0, nAct * cols), nAct);
      for (let m = 0; m < nAct; m++)
        for (let r = 0; r < rows; r++)
          if (!Object.is(y[m * rows + r], alone[m]![r]))
            assert.fail(`${typeName(type)} nAct ${nAct} act ${m} row ${r}: batch ${y[m * rows + r]} vs alone ${alone[m]![r]}`);
    }
  }
});
