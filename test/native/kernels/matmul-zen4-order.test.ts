import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { f16, fmaf, hsum8 } from "./float32-model.ts";
import { randomFloats, randomWeights, typeName } from "./random-weights.ts";

// Every SIMD variant must give every activation row of a batch llama.cpp-zen4's bits (its AVX-512 kernels: the
// AVX-512 variant's own batch paths, tile_packed.cc and tile_ksuper_batch.cc), whatever the CPU: these JS models of
// its float operation orders are checked on each variant this CPU runs, for batches from 1 row to past 64. (On an
// AVX2-only machine they were found to hold already for these types; the variant's difference was SiLU's exp:
// swiglu.test.ts.) The scalar variant sums in llama.cpp's generic C order instead (dot_scalar.cc), not checked here.

const ROWS = 37; // two 16-row packed groups and a tail
const N_ACT = [1, 2, 3, 5, 8, 16, 17, 33, 70];
const simdVariants = k.cpuFeatures().variants.filter((v) => v !== "scalar");

type Model = (w: Uint8Array, act: Uint8Array, cols: number) => number;

/** Q8_0 (ggml_vec_dot_q8_0_q8_0 / tinyBLAS_Q0): 8 float lanes, lane i += (dw·da)·Σ(bytes 4i..4i+3) fused per block. */
const q8_0: Model = (w, act, cols) => {
  const lanes = new Array<number>(8).fill(0);
  const wv = new DataView(w.buffer, w.byteOffset), av = new DataView(act.buffer, act.byteOffset);
  for (let b = 0; b < cols / 32; b++) {
    const dd = Math.fround(f16(wv.getUint16(34 * b, true)) * f16(av.getUint16(34 * b, true)));
    for (let i = 0; i < 8; i++) {
      let p = 0;
      for (let j = 4 * i; j < 4 * i + 4; j++) p += wv.getInt8(34 * b + 2 + j) * av.getInt8(34 * b + 2 + j);
      lanes[i] = fmaf(dd, p, lanes[i]!);
    }
  }
  return hsum8(lanes);
};

/** Q4_0 (llama.cpp's repacked q4_0_8x8 gemv/gemm): one fused multiply-add of each block's exact sum by dw·da. */
const q4_0: Model = (w, act, cols) => {
  let acc = 0;
  const wv = new DataView(w.buffer, w.byteOffset), av = new DataView(act.buffer, act.byteOffset);
  for (let b = 0; b < cols / 32; b++) {
    let p = 0;
    for (let j = 0; j < 16; j++) {
      const byte = w[18 * b + 2 + j]!;
      p += ((byte & 15) - 8) * av.getInt8(34 * b + 2 + j) + ((byte >> 4) - 8) * av.getInt8(34 * b + 2 + 16 + j);
    }
    acc = fmaf(p, Math.fround(f16(wv.getUint16(18 * b, true)) * f16(av.getUint16(34 * b, true))), acc);
  }
  return acc;
};

/**
 * The other 32-element types by the shape of their blocks: `level(w, blockStart, j)` gives element j's level,
 * `wBytes` a block's size; activations are Q8_0 (34 bytes) or, with mins, Q8_1 (36: d, s = d·Σq, qs).
 */
interface Block32 { wBytes: number; min: boolean; level: (w: Uint8Array, wb: number, j: number) => number }
const nibble = (w: Uint8Array, qs: number, j: number) => (j < 16 ? w[qs + j]! & 15 : w[qs + j - 16]! >> 4);
const fifthBit = (w: Uint8Array, qh: number, j: number) => ((w[qh + (j >> 3)]! >> (j & 7)) & 1) << 4;
const Q5_0: Block32 = { wBytes: 22, min: false, level: (w, wb, j) => (nibble(w, wb + 6, j) | fifthBit(w, wb + 2, j)) - 16 };
const Q4_1: Block32 = { wBytes: 20, min: true, level: (w, wb, j) => nibble(w, wb + 4, j) };
const Q5_1: Block32 = { wBytes: 24, min: true, level: (w, wb, j) => nibble(w, wb + 8, j) | fifthBit(w, wb + 4, j) };
const IQ4_NL_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const IQ4_NL: Block32 = { wBytes: 18, min: false, level: (w, wb, j) => IQ4_NL_VALUES[nibble(w, wb + 2, j)]! };

/**
 * Q5_0, Q4_1, Q5_1 (ggml_vec_dot_*_q8_0/_q8_1 / tinyBLAS_Q0): Q8_0's 8 fused lanes, then (with mins) + Σ mw·sa
 * block by block (each product exact in float).
 */
const lanes8 = (t: Block32): Model => (w, act, cols) => {
  const lanes = new Array<number>(8).fill(0);
  let msum = 0;
  const wv = new DataView(w.buffer, w.byteOffset), av = new DataView(act.buffer, act.byteOffset);
  const aBytes = t.min ? 36 : 34;
  for (let b = 0; b < cols / 32; b++) {
    const wb = t.wBytes * b, ab = aBytes * b;
    const dd = Math.fround(f16(wv.getUint16(wb, true)) * f16(av.getUint16(ab, true)));
    for (let i = 0; i < 8; i++) {
      let p = 0;
      for (let j = 4 * i; j < 4 * i + 4; j++) p += t.level(w, wb, j) * av.getInt8(ab + aBytes - 32 + j);
      lanes[i] = fmaf(dd, p, lanes[i]!);
    }
    if (t.min) msum = Math.fround(msum + f16(wv.getUint16(wb + 2, true)) * f16(av.getUint16(ab + 2, true)));
  }
  return Math.fround(hsum8(lanes) + msum);
};

/** IQ4_NL (llama.cpp's repacked iq4_nl_8x8, as Q4_0): one fused multiply-add of each block's exact sum by dw·da. */
const blockSums = (t: Block32): Model => (w, act, cols) => {
  let acc = 0;
  const wv = new DataView(w.buffer, w.byteOffset), av = new DataView(act.buffer, act.byteOffset);
  for (let b = 0; b < cols / 32; b++) {
    let p = 0;
    for (let j = 0; j < 32; j++) p += t.level(w, t.wBytes * b, j) * av.getInt8(34 * b + 2 + j);
    acc = fmaf(p, Math.fround(f16(wv.getUint16(t.wBytes * b, true)) * f16(av.getUint16(34 * b, true))), acc);
  }
  return acc;
};

/**
 * Q6_K (ggml_vec_dot_q6_K_q8_K): per super-block 8 exact int32 lanes, lane m holding Σ scale·level·activation over
 * bytes 4m..4m+3 of every 32-element run (levels 0..63) less 32·(scale·16-element sums) of sub-blocks 2m, 2m+1;
 * lane m += (d·da)·lane fused per super-block; hsum at the end (minus a zero min term).
 */
const q6_k: Model = (w, act, cols) => {
  const lanes = new Array<number>(8).fill(0);
  const wv = new DataView(w.buffer, w.byteOffset), av = new DataView(act.buffer, act.byteOffset);
  for (let sb = 0; sb < cols / 256; sb++) {
    const wb = 210 * sb, ab = 292 * sb;
    const level = (e: number) => {
      const n = e >> 7, l = e & 31, quarter = (e >> 5) & 3;
      const ql = w[wb + 64 * n + l + (quarter & 1) * 32]!, qh = w[wb + 128 + 32 * n + l]!;
      return ((quarter < 2 ? ql & 15 : ql >> 4) | (((qh >> (2 * quarter)) & 3) << 4));
    };
    const scale = (j: number) => wv.getInt8(wb + 192 + j);
    const isum = new Array<number>(8).fill(0);
    for (let e = 0; e < 256; e++) isum[(e % 32) >> 2]! += scale(e >> 4) * level(e) * av.getInt8(ab + 4 + e);
    for (let m = 0; m < 8; m++)
      isum[m]! -= 32 * (av.getInt16(ab + 260 + 4 * m, true) * scale(2 * m) + av.getInt16(ab + 262 + 4 * m, true) * scale(2 * m + 1));
    const dd = Math.fround(f16(wv.getUint16(wb + 208, true)) * av.getFloat32(ab, true));
    for (let m = 0; m < 8; m++) lanes[m] = fmaf(dd, isum[m]!, lanes[m]!);
  }
  return Math.fround(hsum8(lanes) - 0);
};

/**
 * Q5_K (ggml_vec_dot_q5_K_q8_K): 8 exact int32 lanes per super-block, lane m holding Σ scale·level·activation over
 * bytes 4m..4m+3 of every 32-element sub-block, fused into lane m by d·da; the mins Σ min_j·(sums of sub-block j)
 * fused into their own float by dmin·da; hsum(lanes) - mins.
 */
const q5_k: Model = (w, act, cols) => {
  const lanes = new Array<number>(8).fill(0);
  let msum = 0;
  const wv = new DataView(w.buffer, w.byteOffset), av = new DataView(act.buffer, act.byteOffset);
  for (let sb = 0; sb < cols / 256; sb++) {
    const wb = 176 * sb, ab = 292 * sb;
    const sc = (j: number) => (j < 4 ? w[wb + 4 + j]! & 63 : (w[wb + 4 + j + 4]! & 15) | ((w[wb + 4 + j - 4]! >> 6) << 4));
    const mn = (j: number) => (j < 4 ? w[wb + 4 + j + 4]! & 63 : (w[wb + 4 + j + 4]! >> 4) | ((w[wb + 4 + j]! >> 6) << 4));
    const level = (e: number) => {
      const c = e >> 6, l = e & 31, high = (e >> 5) & 1;
      const ql = w[wb + 48 + 32 * c + l]!, qh = w[wb + 16 + l]!;
      return (high ? ql >> 4 : ql & 15) | (((qh >> (2 * c + high)) & 1) << 4);
    };
    const isum = new Array<number>(8).fill(0);
    for (let e = 0; e < 256; e++) isum[(e % 32) >> 2]! += sc(e >> 5) * level(e) * av.getInt8(ab + 4 + e);
    let mins = 0;
    for (let j = 0; j < 8; j++) mins += mn(j) * (av.getInt16(ab + 260 + 4 * j, true) + av.getInt16(ab + 262 + 4 * j, true));
    const da = av.getFloat32(ab, true);
    const dd = Math.fround(f16(wv.getUint16(wb, true)) * da), dm = Math.fround(f16(wv.getUint16(wb + 2, true)) * da);
    for (let m = 0; m < 8; m++) lanes[m] = fmaf(dd, isum[m]!, lanes[m]!);
    msum = fmaf(dm, mins, msum);
  }
  return Math.fround(hsum8(lanes) - msum);
};

const MODELS: [GgmlType, Model, number[]][] = [
  [GgmlType.Q8_0, q8_0, [288, 4096]],
  [GgmlType.Q4_0, q4_0, [288, 4096]],
  [GgmlType.Q5_0, lanes8(Q5_0), [288, 896]],
  [GgmlType.Q4_1, lanes8(Q4_1), [288, 896]],
  [GgmlType.Q5_1, lanes8(Q5_1), [288, 896]],
  [GgmlType.IQ4_NL, blockSums(IQ4_NL), [288, 896]],
  [GgmlType.Q5_K, q5_k, [768, 4096]],
  [GgmlType.Q6_K, q6_k, [768, 4096]],
];

for (const [type, model, colsList] of MODELS) {
  test(`${typeName(type)}: every row of batches of 1..70 activation rows has llama.cpp-zen4's bits (${simdVariants.join(", ") || "no SIMD variant"})`, { skip: simdVariants.length === 0 && "no SIMD variant on this CPU" }, () => {
    const rand = prng(5100 + type);
    let checked = 0;
    for (const cols of colsList) {
      const w = randomWeights(rand, type, ROWS, cols);
      const packed = k.pack(type, w, ROWS, cols) ?? undefined;
      const rowBytes = w.length / ROWS;
      const maxAct = Math.max(...N_ACT);
      const x = randomFloats(rand, maxAct * cols);
      const want = Array.from({ length: maxAct }, (_, m) => {
        const act = k.quantizeActivations(type, x.subarray(m * cols, (m + 1) * cols));
        return Array.from({ length: ROWS }, (_, r) => model(w.subarray(r * rowBytes, (r + 1) * rowBytes), act, cols));
      });
      for (const v of simdVariants)
        for (const nAct of N_ACT) {
          const y = k.matmul(type, w, ROWS, cols, x.subarray(0, nAct * cols), nAct, v, packed);
          for (let m = 0; m < nAct; m++)
            for (let r = 0; r < ROWS; r++, checked++)
              if (y[m * ROWS + r] !== want[m]![r]) assert.fail(`${v} cols ${cols} nAct ${nAct} act ${m} row ${r}: ${y[m * ROWS + r]} vs zen4 ${want[m]![r]}`);
        }
    }
    assert.ok(checked > 0);
  });
}
