import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats, randomWeights } from "./random-weights.ts";

// F32/F16/BF16 matmuls in llama.cpp's zen4 (AVX-512) orders on every variant: the AVX2 kernels keep its 16-lane
// accumulators as two 256-bit halves, the scalar ones compute each lane in turn, so a model gives the same logits on
// an AVX2 CPU as on an AVX-512 one. The orders, modelled here one operation at a time (f32 roundings by Math.fround;
// a fused multiply-add as the exact product plus the addend rounded once, which double arithmetic gives except in
// rare double-rounding ties):
// - a lone row (ggml_vec_dot): four 16-lane accumulators over 64-element steps, added (0+2)+(1+3), reduced by
//   _mm512_reduce_add_ps's tree; then the k % 64 leftovers: f32 weights' first (k % 64) & ~7 products rounded and
//   added one at a time, the rest fused (the AVX-512 build's compiled loop); f16 weights' products added in double;
// - a batch row (tinyBLAS, rows % 4 == 0 and k % 16 == 0): one 16-lane accumulator, one reduction;
// - BF16 (vdpbf16ps: each lane adds its pair's odd product, rounded, then the even one's; denormals flushed, which
//   these moderate values never meet): a lone row (ggml_vec_dot_bf16) in two accumulators over 64-element steps,
//   each reduced and added in double, the k % 64 leftovers' products in double; a batch row (tinyBLAS, k % 32 == 0)
//   in one accumulator over 32-element steps. tile-bf16.test.ts takes the flushes.
const f = Math.fround;
const fma = (a: number, b: number, c: number) => f(a * b + c);

function reduce16(v: number[]): number {
  const t = Array.from({ length: 8 }, (_, i) => f(v[i]! + v[i + 8]!));
  const u = Array.from({ length: 4 }, (_, i) => f(t[i]! + t[i + 4]!));
  return f(f(u[0]! + u[2]!) + f(u[1]! + u[3]!));
}

function vecDot(w: Float32Array, a: Float32Array, halfWeights: boolean): number {
  const n = w.length, np = n & ~63;
  const acc = Array.from({ length: 4 }, () => new Array<number>(16).fill(0));
  for (let i = 0; i < np; i += 64)
    for (let j = 0; j < 4; j++)
      for (let l = 0; l < 16; l++) acc[j]![l] = fma(w[i + 16 * j + l]!, a[i + 16 * j + l]!, acc[j]![l]!);
  const sum = reduce16(Array.from({ length: 16 }, (_, l) => f(f(acc[0]![l]! + acc[2]![l]!) + f(acc[1]![l]! + acc[3]![l]!))));
  if (halfWeights) {  // in double, rounded to float at the end
    let d = sum;
    for (let i = np; i < n; i++) d += f(w[i]! * a[i]!);
    return f(d);
  }
  let s = sum;
  const rounded = np + ((n - np) & ~7);
  for (let i = np; i < rounded; i++) s = f(s + f(w[i]! * a[i]!));
  for (let i = rounded; i < n; i++) s = fma(w[i]!, a[i]!, s);
  return s;
}

function tinyBlas(w: Float32Array, a: Float32Array): number {
  const acc = new Array<number>(16).fill(0);
  for (let i = 0; i < w.length; i += 16)
    for (let l = 0; l < 16; l++) acc[l] = fma(w[i + l]!, a[i + l]!, acc[l]!);
  return reduce16(acc);
}

/** Lane l of a vdpbf16ps step at element i: the pair i + 2l, i + 2l + 1, odd product first. */
function dpbf16(w: Float32Array, a: Float32Array, i: number, acc: number[]) {
  for (let l = 0; l < 16; l++) acc[l] = fma(w[i + 2 * l]!, a[i + 2 * l]!, fma(w[i + 2 * l + 1]!, a[i + 2 * l + 1]!, acc[l]!));
}

function vecDotBf16(w: Float32Array, a: Float32Array): number {
  const n = w.length, np = n & ~63;
  const c1 = new Array<number>(16).fill(0), c2 = new Array<number>(16).fill(0);
  for (let i = 0; i < np; i += 64) {
    dpbf16(w, a, i, c1);
    dpbf16(w, a, i + 32, c2);
  }
  let d = reduce16(c1) + reduce16(c2);
  for (let i = np; i < n; i++) d += f(w[i]! * a[i]!);
  return f(d);
}

function tinyBlasBf16(w: Float32Array, a: Float32Array): number {
  const acc = new Array<number>(16).fill(0);
  for (let i = 0; i < w.length; i += 32) dpbf16(w, a, i, acc);
  return reduce16(acc);
}

// [rows, cols, activation rows]: 288 leaves 32 leftovers (stories15M), 172 44 (stories260K's FFN down: no tinyBLAS,
// k % 16 != 0), 100 36, 76 12, 24 only leftovers; 16+ rows against 4+ activation rows take the AVX-512 lane kernel;
// 18 rows (not a multiple of 4) sum a batch in vec_dot's order, and so does BF16 with 100 columns (not 32 a step).
// A lone row meets 2112- and (F16/BF16) 576-, 768- and 1040-wide rows in 4 runs (lone_row_runs; 10 rows leave two
// over).
const SHAPES: [number, number, number][] = [
  [8, 288, 1], [8, 288, 3], [32, 288, 5], [8, 768, 1], [8, 768, 4], [64, 172, 1], [64, 172, 6], [16, 100, 3],
  [16, 76, 1], [20, 76, 7], [12, 24, 2], [18, 64, 3], [4, 2112, 1], [4, 2112, 2], [10, 1040, 1], [10, 576, 1],
];

// Every variant this CPU runs (scalar included: it computes the same orders one lane at a time).
const variants = k.cpuFeatures().variants;

for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.BF16]) {
  test(`${GgmlType[type]} matmuls give the AVX-512 build's vec_dot and tinyBLAS orders bit for bit (${variants.join(", ")})`, () => {
    const rand = prng(type === GgmlType.F32 ? 7 : type === GgmlType.F16 ? 8 : 9);
    for (const [rows, cols, nAct] of SHAPES) {
      const w = randomWeights(rand, type, rows, cols);
      const x = randomFloats(rand, nAct * cols);
      const rowBytes = w.length / rows;
      const wf = Array.from({ length: rows }, (_, r) => k.dequantizeRow(type, w.subarray(r * rowBytes, (r + 1) * rowBytes), cols));
      const xs = Array.from({ length: nAct }, (_, m) => {
        const row = x.subarray(m * cols, (m + 1) * cols);
        return type === GgmlType.F32 ? row : k.dequantizeRow(type, k.quantizeActivations(type, row), cols);
      });
      const bf16 = type === GgmlType.BF16;
      const batch = nAct > 1 && rows % 4 === 0 && cols % (bf16 ? 32 : 16) === 0;
      for (const variant of variants) {
        const y = k.matmul(type, w, rows, cols, x, nAct, variant);
        for (let m = 0; m < nAct; m++)
          for (let r = 0; r < rows; r++) {
            const want = bf16 ? (batch ? tinyBlasBf16(wf[r]!, xs[m]!) : vecDotBf16(wf[r]!, xs[m]!))
                              : batch ? tinyBlas(wf[r]!, xs[m]!) : vecDot(wf[r]!, xs[m]!, type !== GgmlType.F32);
            assert.equal(y[m * rows + r], want, `${variant} ${rows}x${cols}, ${nAct} rows: row ${m}, weight row ${r}`);
          }
      }
    }
  });
}
