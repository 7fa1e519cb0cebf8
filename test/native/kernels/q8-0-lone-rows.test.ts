import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats, randomWeights } from "./random-weights.ts";

// A model reads its Q8_0 matrices in place for single activation rows until batches have come (Transformer's
// deferred packing), through the AVX-512 in-place kernel (tile_simd's q8_0_lone_rows: two rows per vector, in four
// runs from 2048 columns on). Its bits must be the packed kernel's and those of the same row in a batch.
const noAvx512 = !k.cpuFeatures().variants.includes("avx512") && "the in-place Q8_0 rows are an AVX-512 kernel";
const ROWS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 19, 33, 48, 67];
const COLS = [32, 288, 2048, 4096];

/** Random Q8_0 rows with the edge cases of the sign trick: levels of -128 and 0, and blocks whose scale is 0. */
function edgyQ8_0(rand: () => number, rows: number, cols: number): Uint8Array {
  const w = randomWeights(rand, GgmlType.Q8_0, rows, cols);
  for (let blk = 0; blk < w.length; blk += 34) {
    const u = rand();
    if (u < 0.05) w.fill(0, blk, blk + 2);  // a zero scale
    else if (u < 0.15) for (let j = 2; j < 34; j++) if (rand() < 0.3) w[blk + j] = rand() < 0.5 ? 0x80 : 0;
  }
  return w;
}

const bytes = (y: Float32Array) => new Uint8Array(y.buffer, y.byteOffset, y.byteLength);

test("Q8_0 rows read in place for one activation row give the packed kernel's bits and a batch row's", { skip: noAvx512 }, () => {
  const rand = prng(8080);
  for (const cols of COLS) {
    const maxRows = ROWS[ROWS.length - 1]!;
    const all = edgyQ8_0(rand, maxRows, cols);
    const x = randomFloats(rand, 3 * cols);
    for (const rows of ROWS) {
      const w = all.subarray(0, rows * (cols / 32) * 34);
      const one = k.matmul(GgmlType.Q8_0, w, rows, cols, x.subarray(0, cols), 1, "avx512");
      const batch = k.matmul(GgmlType.Q8_0, w, rows, cols, x, 3, "avx512");
      assert.deepEqual(bytes(one), bytes(batch.subarray(0, rows)), `rows ${rows} cols ${cols}: against a batch's first row`);
      if (rows < 16) continue;
      const packed = k.matmul(GgmlType.Q8_0, w, rows, cols, x.subarray(0, cols), 1, "avx512", k.pack(GgmlType.Q8_0, w, rows, cols)!);
      assert.deepEqual(bytes(one), bytes(packed), `rows ${rows} cols ${cols}: against the packed kernel`);
    }
  }
});

// Every variant reads a 32-element type's lone rows in place in four runs side by side from 2048 columns on
// (tile_simd's block32_lone_rows; AVX-512 Q8_0 has its own kernel above): each output must keep its row's bits,
// those of the same row in a batch, whatever run or leftover row it falls in.
const BLOCK32 = [GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.IQ4_NL];
for (const variant of k.cpuFeatures().variants.filter((v) => v !== "scalar")) {
  test(`${variant}: 32-element types' lone rows in runs give a batch row's bits`, () => {
    const rand = prng(8181);
    for (const type of BLOCK32) {
      for (const cols of [288, 2048]) {
        const rows = 67;
        const w = type === GgmlType.Q8_0 ? edgyQ8_0(rand, rows, cols) : randomWeights(rand, type, rows, cols);
        const x = randomFloats(rand, 3 * cols);
        const one = k.matmul(type, w, rows, cols, x.subarray(0, cols), 1, variant);
        const batch = k.matmul(type, w, rows, cols, x, 3, variant);
        assert.deepEqual(bytes(one), bytes(batch.subarray(0, rows)), `type ${type} cols ${cols}: against a batch's first row`);
      }
    }
  });
}
