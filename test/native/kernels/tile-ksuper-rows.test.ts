import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats, randomWeights, typeName } from "./random-weights.ts";

// tile_ksuper_rows.cc, the avx2 variant's Q4_K/Q5_K/Q6_K kernel for several activation rows: prefill-sized batches run
// as passes of up to 8 rows (as even as can be) over blocks of weight rows kept in L2 (256 KB: 150-230 rows at 2048
// columns), and matmul hands it chunks of 84 rows at 2048 columns (all of them at 768). Every output must have
// llama.cpp-zen4's bits: those of the avx512 variant (tile_ksuper_batch.cc) where this CPU runs it, and a batch row
// those of the same row alone (the single-row kernels: another implementation of the same order; Q4_K's batched
// order has no single-row kernel, so a lone row takes this kernel's one-row pass).
const variants = k.cpuFeatures().variants;
const N_ACT = [33, 41, 64, 100, 128, 129];
const SHAPES = [[300, 2048], [37, 768]] as const; // two and a third blocks of weight rows; one block, 3 super-blocks a row
const CASES: [GgmlType, boolean][] = [[GgmlType.Q4_K, false], [GgmlType.Q4_K, true], [GgmlType.Q5_K, false], [GgmlType.Q6_K, false]];

for (const [type, gemmOrder] of CASES) {
  const name = `${typeName(type)}${gemmOrder ? " (batched order)" : ""}`;
  test(`avx2 ${name}: batches of ${N_ACT.join(", ")} activation rows have each row's lone bits and the avx512 variant's`, { skip: !variants.includes("avx2") && "no avx2 variant on this CPU" }, () => {
    const rand = prng(9100 + type + (gemmOrder ? 1 : 0));
    let checked = 0;
    for (const [rows, cols] of SHAPES) {
      const w = randomWeights(rand, type, rows, cols);
      const maxAct = Math.max(...N_ACT);
      const x = randomFloats(rand, maxAct * cols);
      const alone = Array.from({ length: maxAct }, (_, m) => k.matmul(type, w, rows, cols, x.subarray(m * cols, (m + 1) * cols), 1, "avx2", undefined, gemmOrder));
      for (const nAct of N_ACT) {
        const xs = x.subarray(0, nAct * cols);
        const y = k.matmul(type, w, rows, cols, xs, nAct, "avx2", undefined, gemmOrder);
        const wide = variants.includes("avx512") ? k.matmul(type, w, rows, cols, xs, nAct, "avx512", undefined, gemmOrder) : undefined;
        for (let m = 0; m < nAct; m++)
          for (let r = 0; r < rows; r++, checked++) {
            const got = y[m * rows + r]!, at = `${rows}x${cols} nAct ${nAct} act ${m} row ${r}`;
            if (!Object.is(got, alone[m]![r])) assert.fail(`${at}: batch ${got} vs alone ${alone[m]![r]}`);
            if (wide && !Object.is(got, wide[m * rows + r])) assert.fail(`${at}: avx2 ${got} vs avx512 ${wide[m * rows + r]}`);
          }
      }
    }
    assert.ok(checked > 0);
  });
}
