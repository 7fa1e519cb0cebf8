import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats, randomWeights } from "./random-weights.ts";

// The AMX Q4_K kernel (native/kernels/tile_q4k_amx.cc) must give every output the bits of the AVX-512 VNNI kernel
// (tile_ksuper_batch.cc), in both Q4_K orders and with rows of both in one batch. The shapes reach its edges: weight
// rows that leave a partial block of 16 and an odd block, activation rows that leave a partial block (and one block
// alone), several chunks of activation blocks (4096 and 8192 columns), and row counts on both sides of where matmul
// starts taking the tiles (q4k_amx_pays: 12 rows of the single-row order, 5 of the per-64 one).
const noAmx = !k.cpuFeatures().variants.includes("amx") &&
  "no amx variant here: it needs AMX-INT8, the tile state granted by the OS, and INFER_REPL_AMX not 0";

type Orders = "single" | "per64" | "mixed";
/** A ubatch's rows: llama.cpp's batched order but for the last n % 4 (kRowGemmOrder), or one order for all. */
function orderBits(orders: Orders, nAct: number): Uint8Array | boolean {
  if (orders !== "mixed") return orders === "per64";
  return Uint8Array.from({ length: nAct }, (_, m) => (m < nAct - (nAct % 4) && m % 7 !== 3 ? 1 : 0));
}

const CASES: ReadonlyArray<{ rows: number; cols: number; nActs: number[] }> = [
  { rows: 37, cols: 256, nActs: [4, 5, 11, 12, 15, 16, 17, 33, 70] },
  { rows: 16, cols: 768, nActs: [16, 31, 32, 48] },
  { rows: 100, cols: 2048, nActs: [9, 20, 64, 130] },
  { rows: 40, cols: 4096, nActs: [170] },
  { rows: 20, cols: 8192, nActs: [70] },
];

test("Q4_K on AMX tiles gives the AVX-512 kernel's bits, both orders, every shape edge", { skip: noAmx }, () => {
  const rand = prng(4242);
  for (const { rows, cols, nActs } of CASES) {
    const w = randomWeights(rand, GgmlType.Q4_K, rows, cols);
    const x = randomFloats(rand, Math.max(...nActs) * cols);
    for (const nAct of nActs)
      for (const orders of ["single", "per64", "mixed"] as const) {
        const xs = x.subarray(0, nAct * cols), bits = orderBits(orders, nAct);
        const vnni = k.matmul(GgmlType.Q4_K, w, rows, cols, xs, nAct, "avx512", undefined, bits);
        const amx = k.matmul(GgmlType.Q4_K, w, rows, cols, xs, nAct, "amx", undefined, bits);
        for (let i = 0; i < vnni.length; i++)
          if (!Object.is(amx[i], vnni[i]))
            assert.fail(`${rows}x${cols} nAct ${nAct} ${orders}: act ${Math.floor(i / rows)} row ${i % rows}: amx ${amx[i]} vs avx512 ${vnni[i]}`);
      }
  }
});
