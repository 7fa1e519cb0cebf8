import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats, randomWeights, typeName } from "./random-weights.ts";

// The AVX2 variant runs the 32-element types against 2+ activation rows in passes of up to 8 (tile_block32_few.cc:
// each block decoded once for all of a pass's rows, Q4_0/Q5_0's bias taken back off through the activations' sums).
// Every output must have the bits of its row alone and, where this CPU runs it, of the AVX-512 variant (packed or
// not): at every row count around the passes' sizes, with weight-row counts that are not multiples of 4 or 16, and
// with the integer edge cases (Q8_0 levels of -128, zero scales, activation blocks at ±127 throughout).
const noAvx2 = !k.cpuFeatures().variants.includes("avx2") && "no AVX2 on this CPU";
const hasAvx512 = k.cpuFeatures().variants.includes("avx512");
const TYPES = [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL];
const N_ACT = [...Array.from({ length: 33 }, (_, i) => i + 1), 40, 70, 101];
const ROWS = 37;

/** Weights with a zero scale in some blocks and, for Q8_0, levels of -128 and 0 (the sign trick's edge cases). */
function edgyWeights(rand: () => number, type: GgmlType, rows: number, cols: number): Uint8Array {
  const w = randomWeights(rand, type, rows, cols);
  const blockBytes = w.length / rows / (cols / 32);
  for (let blk = 0; blk < w.length; blk += blockBytes) {
    const u = rand();
    if (u < 0.05) w.fill(0, blk, blk + 2);
    else if (type === GgmlType.Q8_0 && u < 0.15) for (let j = 2; j < 34; j++) if (rand() < 0.3) w[blk + j] = rand() < 0.5 ? 0x80 : 0;
  }
  return w;
}

/** Activations with some 32-element blocks of equal magnitudes (every quantized level ±127). */
function edgyActs(rand: () => number, n: number, cols: number): Float32Array {
  const x = randomFloats(rand, n * cols);
  for (let blk = 0; blk < x.length; blk += 32)
    if (rand() < 0.1) {
      const sign = rand() < 0.5 ? -1 : 1;
      for (let j = 0; j < 32; j++) x[blk + j] = (rand() < 0.8 ? sign : -sign) * 3;
    }
  return x;
}

const same = (a: number, b: number) => Object.is(a, b);

for (const type of TYPES) {
  test(`${typeName(type)}: avx2 batches of 1..33, 40, 70 and 101 rows give each row's lone bits${hasAvx512 ? " and the avx512 variant's" : ""}`, { skip: noAvx2 }, () => {
    const rand = prng(7300 + type);
    for (const cols of [288, 896]) {
      const w = edgyWeights(rand, type, ROWS, cols);
      const packed = hasAvx512 ? k.pack(type, w, ROWS, cols) ?? undefined : undefined;
      const maxAct = Math.max(...N_ACT);
      const x = edgyActs(rand, maxAct, cols);
      const alone = Array.from({ length: maxAct }, (_, m) => k.matmul(type, w, ROWS, cols, x.subarray(m * cols, (m + 1) * cols), 1, "avx2"));
      for (const nAct of N_ACT) {
        const y = k.matmul(type, w, ROWS, cols, x.subarray(0, nAct * cols), nAct, "avx2");
        const wide = hasAvx512 ? k.matmul(type, w, ROWS, cols, x.subarray(0, nAct * cols), nAct, "avx512", packed) : undefined;
        for (let m = 0; m < nAct; m++)
          for (let r = 0; r < ROWS; r++) {
            const got = y[m * ROWS + r]!;
            if (!same(got, alone[m]![r]!)) assert.fail(`cols ${cols} nAct ${nAct} act ${m} row ${r}: batch ${got} vs alone ${alone[m]![r]}`);
            if (wide && !same(got, wide[m * ROWS + r]!)) assert.fail(`cols ${cols} nAct ${nAct} act ${m} row ${r}: avx2 ${got} vs avx512 ${wide[m * ROWS + r]}`);
          }
      }
    }
  });
}
