import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { KERNEL_TYPES, randomFloats, randomWeights, typeName } from "./random-weights.ts";

// Tolerances: every path computes exact integer block sums, so paths differ only in float rounding and summation
// order. Differences are bounded by TOL × Σ|w·x| (the sum of absolute products), a scale-free bound.
const TOL = 2e-6;
const ROWS = 13; // not a multiple of the 4-row tile, so partial tiles run
const N_ACT = [1, 3, 8, 33];
const simdVariants = k.cpuFeatures().variants.filter((v) => v !== "scalar");

/** The activation type llama.cpp pairs with each weight type, as GgmlType. */
function dequantizedActivations(type: GgmlType, x: Float32Array, cols: number, nAct: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let m = 0; m < nAct; m++) {
    const row = x.subarray(m * cols, (m + 1) * cols);
    const q = k.quantizeActivations(type, row);
    const actType = activationType(type);
    out.set(actType === GgmlType.F32 ? row : k.dequantizeRow(actType, q, cols), m * cols);
  }
  return out;
}

function activationType(t: GgmlType): GgmlType {
  switch (t) {
    case GgmlType.F16: return GgmlType.F16;
    case GgmlType.BF16: return GgmlType.BF16;
    case GgmlType.F32: return GgmlType.F32;
    case GgmlType.Q4_1: case GgmlType.Q5_1: return GgmlType.Q8_1;
    case GgmlType.Q4_0: case GgmlType.Q5_0: case GgmlType.Q8_0: case GgmlType.IQ4_NL: return GgmlType.Q8_0;
    default: return GgmlType.Q8_K;
  }
}

function f16(bits: number): number {
  const e = (bits >> 10) & 31, f = bits & 1023, sign = bits & 0x8000 ? -1 : 1;
  return sign * (e === 0 ? f * 2 ** -24 : (1 + f / 1024) * 2 ** (e - 15));
}

/**
 * Q4_1/Q5_1 × Q8_1: llama.cpp applies each weight block's min to the activation block's s = d·Σq stored as f16,
 * not to the exact sum; the correction is m·(s − d·Σq) per block.
 */
function minTermRounding(type: GgmlType, wRow: Uint8Array, x: Float32Array, a: Float64Array, cols: number): number {
  const wBlock = type === GgmlType.Q4_1 ? 20 : 24;
  const q = k.quantizeActivations(type, Float32Array.from(x.subarray(0, cols)));
  const wv = new DataView(wRow.buffer, wRow.byteOffset), av = new DataView(q.buffer, q.byteOffset);
  let corr = 0;
  for (let b = 0; b < cols / 32; b++) {
    const m = f16(wv.getUint16(b * wBlock + 2, true));
    let exact = 0;
    for (let i = 0; i < 32; i++) exact += a[b * 32 + i]!;
    corr += m * (f16(av.getUint16(b * 36 + 2, true)) - exact);
  }
  return corr;
}

for (const { type, cols: colsList } of KERNEL_TYPES) {
  test(`${typeName(type)}: scalar matmul equals the float64 product of dequantized weights and activations`, () => {
    const rand = prng(1000 + type);
    for (const cols of colsList) {
      const w = randomWeights(rand, type, ROWS, cols);
      const rowBytes = w.length / ROWS;
      const wf = Array.from({ length: ROWS }, (_, r) => k.dequantizeRow(type, w.subarray(r * rowBytes, (r + 1) * rowBytes), cols));
      const nAct = 3;
      const x = randomFloats(rand, nAct * cols);
      const a = dequantizedActivations(type, x, cols, nAct);
      const y = k.matmul(type, w, ROWS, cols, x, nAct, "scalar");
      for (let m = 0; m < nAct; m++) {
        for (let r = 0; r < ROWS; r++) {
          let want = 0, mag = 0;
          for (let i = 0; i < cols; i++) { const p = wf[r]![i]! * a[m * cols + i]!; want += p; mag += Math.abs(p); }
          if (activationType(type) === GgmlType.Q8_1) want += minTermRounding(type, w.subarray(r * rowBytes), x.subarray(m * cols), a.subarray(m * cols), cols);
          const got = y[m * ROWS + r]!;
          assert.ok(Math.abs(got - want) <= 1e-5 * mag + 1e-6, `cols ${cols} act ${m} row ${r}: ${got} vs ${want} (Σ|wx| ${mag})`);
        }
      }
    }
  });

  test(`${typeName(type)}: SIMD variants (${simdVariants.join(", ") || "none on this CPU"}) agree with scalar`, { skip: simdVariants.length === 0 && "no SIMD variant runs on this CPU" }, () => {
    const rand = prng(2000 + type);
    for (const cols of colsList) {
      const w = randomWeights(rand, type, ROWS, cols);
      const rowBytes = w.length / ROWS;
      const wf = Array.from({ length: ROWS }, (_, r) => k.dequantizeRow(type, w.subarray(r * rowBytes, (r + 1) * rowBytes), cols));
      for (const nAct of N_ACT) {
        const x = randomFloats(rand, nAct * cols);
        const ref = k.matmul(type, w, ROWS, cols, x, nAct, "scalar");
        for (const v of simdVariants) {
          const y = k.matmul(type, w, ROWS, cols, x, nAct, v);
          for (let m = 0; m < nAct; m++) {
            for (let r = 0; r < ROWS; r++) {
              let mag = 0;
              for (let i = 0; i < cols; i++) mag += Math.abs(wf[r]![i]! * x[m * cols + i]!);
              const got = y[m * ROWS + r]!, want = ref[m * ROWS + r]!;
              assert.ok(Math.abs(got - want) <= TOL * mag + 1e-7, `${v} cols ${cols} nAct ${nAct} act ${m} row ${r}: ${got} vs scalar ${want}`);
            }
          }
        }
      }
    }
  });
}

test("large row counts split across threads give the same result as one band", () => {
  const rand = prng(7);
  const rows = 1001, cols = 288;
  const w = randomWeights(rand, GgmlType.Q8_0, rows, cols);
  const x = randomFloats(rand, 2 * cols);
  const all = k.matmul(GgmlType.Q8_0, w, rows, cols, x, 2);
  const rowBytes = w.length / rows;
  for (const r of [0, 3, 4, 517, 1000]) {
    const one = k.matmul(GgmlType.Q8_0, w.subarray(r * rowBytes, (r + 1) * rowBytes), 1, cols, x, 2);
    assert.equal(all[r], one[0]);
    assert.equal(all[rows + r], one[1]);
  }
});

test("float matrices too large to stay cached (weight rows streamed, in pairs, for ≤ 16 activation rows) sum exactly as small ones", () => {
  const rand = prng(11);
  // f32 563 KiB, f16 281 KiB: over the 256 KiB streaming threshold; a 4-row slice is far under it (and still a shape
  // llama.cpp's tinyBLAS takes: rows a multiple of 4)
  const rows = 500, cols = 288;
  for (const type of [GgmlType.F32, GgmlType.F16]) {
    const w = randomWeights(rand, type, rows, cols);
    const rowBytes = w.length / rows;
    // Every count of activation rows a streamed pass takes at once (1-8, a speculative verify's 2-9) and past it.
    for (const nAct of [2, 3, 4, 5, 6, 7, 8, 9, 13, 16]) {
      const x = randomFloats(rand, nAct * cols);
      const all = k.matmul(type, w, rows, cols, x, nAct);
      // Slices start on odd rows too, so a streamed pair of weight rows is split differently from the slice's.
      for (const r0 of [0, 101, 496]) {
        const part = k.matmul(type, w.subarray(r0 * rowBytes, (r0 + 4) * rowBytes), 4, cols, x, nAct);
        for (let m = 0; m < nAct; m++)
          for (let r = 0; r < 4; r++) assert.equal(all[m * rows + r0 + r], part[m * 4 + r], `${typeName(type)} nAct ${nAct} act ${m} row ${r0 + r}`);
      }
    }
  }
});

test("float matrices of a shape tinyBLAS does not take (rows not a multiple of 4) sum every activation row alone, as llama.cpp falls back to ggml_vec_dot", () => {
  const rand = prng(12);
  for (const type of [GgmlType.F32, GgmlType.F16]) {
    for (const rows of [1, 3, 7]) {
      const cols = 256, w = randomWeights(rand, type, rows, cols), x = randomFloats(rand, 5 * cols);
      const all = k.matmul(type, w, rows, cols, x, 5);
      for (let m = 0; m < 5; m++) {
        const alone = k.matmul(type, w, rows, cols, x.subarray(m * cols, (m + 1) * cols), 1);
        for (let r = 0; r < rows; r++) assert.equal(all[m * rows + r], alone[r], `${typeName(type)} rows ${rows} act ${m} row ${r}`);
      }
    }
  }
});

test("SIMD activation quantizers write the same bytes as the reference ones", { skip: simdVariants.length === 0 && "no SIMD variant" }, () => {
  const rand = prng(5);
  for (const type of [GgmlType.Q8_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.F16, GgmlType.BF16]) {
    for (const n of [256, 512, 4096]) {
      const x = randomFloats(rand, n);
      x.fill(0, 32, 64); // an all-zero block
      x[300] = 5; x[301] = -5; // equal magnitudes of both signs: the first one sets the Q8_K sign
      for (const i of [7, 8, 9]) x[256 + i] = (i - 8) * 0.5; // exact halves after scaling are common near zero
      const ref = k.quantizeActivations(type, x, "scalar");
      for (const v of simdVariants) assert.deepEqual(k.quantizeActivations(type, x, v), ref, `${typeName(type)} n ${n} ${v}`);
    }
  }
});

test("matmulGroup (shared input, mixed types) gives exactly each matrix's own matmul result", () => {
  const rand = prng(11);
  const cols = 256;
  const mats = [GgmlType.Q5_0, GgmlType.Q8_0, GgmlType.Q6_K, GgmlType.F16].map((type, i) => ({ type, rows: 9 + 10 * i, weights: randomWeights(rand, type, 9 + 10 * i, cols) }));
  for (const nAct of [1, 5]) {
    const x = randomFloats(rand, nAct * cols);
    const outs = k.matmulGroup(mats, cols, x, nAct);
    mats.forEach((m, i) => assert.deepEqual(outs[i], k.matmul(m.type, m.weights, m.rows, cols, x, nAct), `matrix ${i}`));
  }
});

test("swiglu is silu(gate)·up to within llama.cpp's exp approximation (1.5 ulp), for every length", () => {
  const rand = prng(13);
  for (const n of [1, 7, 16, 768, 1000]) {
    const g = randomFloats(rand, n, 4), u = randomFloats(rand, n);
    g[0] = -120; // exp(-x) overflows: silu → -0
    const y = k.swiglu(g, u);
    for (let i = 0; i < n; i++) {
      const want = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
      assert.ok(Math.abs(y[i]! - want) <= 1e-6 * Math.abs(want) + 1e-30, `n ${n} i ${i}: ${y[i]} vs ${want}`);
    }
  }
});

test("unsupported weight types and malformed arguments are refused with clear errors", () => {
  assert.equal(k.supports(GgmlType.IQ2_XXS), false);
  assert.throws(() => k.matmul(GgmlType.IQ2_XXS, new Uint8Array(66), 1, 256, new Float32Array(256), 1), /unsupported weight type 16/);
  assert.throws(() => k.matmul(GgmlType.Q8_0, new Uint8Array(34), 1, 33, new Float32Array(33), 1), /not a multiple of the type's block size 32/);
  assert.throws(() => k.matmul(GgmlType.Q8_0, new Uint8Array(33), 1, 32, new Float32Array(32), 1), /rows \* row bytes/);
  assert.throws(() => k.matmul(GgmlType.Q8_0, new Uint8Array(34), 1, 32, new Float32Array(31), 1), /nAct \* cols/);
  assert.throws(() => k.matmul(GgmlType.Q8_0, new Uint8Array(34), 1, 32, new Float32Array(32), 1, "sse9" as never), /unknown kernel variant/);
  assert.throws(() => k.quantizeRow(GgmlType.IQ2_XXS, new Float32Array(256)), /no reference quantizer/);
});

/**
 * llama.cpp's repacked Q4_K kernels, one output. Batched (ggml_gemm_q4_K_8x8_q8_K, `per64`): per 64 weights (two
 * 32-weight sub-blocks) the exact Σ scale·w·a and Σ min·(activation sums), each fused multiply-added into its own
 * float sum by d_w·d_a and dmin_w·d_a, and the two sums subtracted at the end; one row (ggml_gemv_q4_K_8x8_q8_K)
 * the same per super-block. Fused multiply-adds are computed in double: the product of two floats is exact there,
 * and with these magnitudes the sum rounds once.
 */
function q4kReference(w: Uint8Array, act: Uint8Array, cols: number, per64: boolean): number {
  const fma = (a: number, b: number, c: number) => Math.fround(a * b + c);
  const wv = new DataView(w.buffer, w.byteOffset, w.byteLength), av = new DataView(act.buffer, act.byteOffset, act.byteLength);
  let seq = 0, msum = 0;
  for (let sb = 0; sb < cols / 256; sb++) {
    const wb = sb * 144, ab = sb * 292;
    const d = f16(wv.getUint16(wb, true)), dmin = f16(wv.getUint16(wb + 2, true)), da = av.getFloat32(ab, true);
    const sc = (j: number) => (j < 4 ? w[wb + 4 + j]! & 63 : (w[wb + 4 + j + 4]! & 15) | ((w[wb + 4 + j - 4]! >> 6) << 4));
    const mn = (j: number) => (j < 4 ? w[wb + 4 + j + 4]! & 63 : (w[wb + 4 + j + 4]! >> 4) | ((w[wb + 4 + j]! >> 6) << 4));
    const level = (i: number) => {
      const byte = w[wb + 16 + 32 * Math.floor(i / 64) + (i % 32)]!;
      return (i % 64) < 32 ? byte & 15 : byte >> 4;
    };
    let isum = 0, mins = 0;
    for (let p = 0; p < 4; p++) {
      for (const j of [2 * p, 2 * p + 1]) {
        let dot = 0;
        for (let l = 0; l < 32; l++) dot += level(32 * j + l) * av.getInt8(ab + 4 + 32 * j + l);
        isum += sc(j) * dot;
        mins += mn(j) * (av.getInt16(ab + 260 + 4 * j, true) + av.getInt16(ab + 262 + 4 * j, true));
      }
      if (per64 || p === 3) {
        seq = fma(Math.fround(isum), Math.fround(d * da), seq);
        msum = fma(Math.fround(mins), Math.fround(dmin * da), msum);
        isum = mins = 0;
      }
    }
  }
  return Math.fround(seq - msum);
}

test("Q4_K in llama.cpp's batched order (gemmOrder) and its one-row order (default): every output equals its kernel's, for any number of activation rows", () => {
  const rand = prng(17);
  let defaultDiffers = 0;
  for (const cols of [256, 768]) {
    const w = randomWeights(rand, GgmlType.Q4_K, ROWS, cols);
    const rowBytes = w.length / ROWS;
    // Passes of every width 1..8 (a pass is up to 8 rows): each width has its own reduction.
    for (const nAct of [...N_ACT, 10, 12, 13, 22, 15]) {
      const x = randomFloats(rand, nAct * cols);
      const y = k.matmul(GgmlType.Q4_K, w, ROWS, cols, x, nAct, "auto", undefined, true);
      const plain = k.matmul(GgmlType.Q4_K, w, ROWS, cols, x, nAct);
      for (let m = 0; m < nAct; m++) {
        const act = k.quantizeActivations(GgmlType.Q4_K, x.subarray(m * cols, (m + 1) * cols));
        for (let r = 0; r < ROWS; r++) {
          const row = w.subarray(r * rowBytes, (r + 1) * rowBytes);
          const want = q4kReference(row, act, cols, true);
          assert.equal(y[m * ROWS + r], want, `cols ${cols} nAct ${nAct} act ${m} row ${r}`);
          assert.equal(plain[m * ROWS + r], q4kReference(row, act, cols, false), `default order: cols ${cols} nAct ${nAct} act ${m} row ${r}`);
          if (plain[m * ROWS + r] !== want) defaultDiffers++;
        }
      }
    }
  }
  assert.ok(defaultDiffers > 0, "the single-row order never differed: the test could not tell the orders apart");
});

// A decode step mixes the orders (a sequence whose row asks for llama.cpp's batched arithmetic beside lone-token
// ones): the AVX-512 few-rows kernel then takes a tile of both, each run of rows of one order in its own pass. With
// 1-3 rows every pattern of orders is checked against the reference of each row's own order, on data where the two
// orders differ (so a row summed in the other order, or rows shifted between passes, fails).
test("Q4_K tiles of 1-3 activation rows mixing both orders (gemmOrder per row): every output equals its row's order", () => {
  const rand = prng(29);
  let ordersDiffer = 0;
  for (const cols of [256, 1024]) {
    const w = randomWeights(rand, GgmlType.Q4_K, ROWS, cols);
    const rowBytes = w.length / ROWS;
    for (let nAct = 1; nAct <= 3; nAct++) {
      const x = randomFloats(rand, nAct * cols);
      const acts = Array.from({ length: nAct }, (_, m) => k.quantizeActivations(GgmlType.Q4_K, x.subarray(m * cols, (m + 1) * cols)));
      for (let pattern = 0; pattern < 1 << nAct; pattern++) {
        const orders = Uint8Array.from({ length: nAct }, (_, m) => (pattern >> m) & 1);
        const y = k.matmul(GgmlType.Q4_K, w, ROWS, cols, x, nAct, "auto", undefined, orders);
        for (let m = 0; m < nAct; m++)
          for (let r = 0; r < ROWS; r++) {
            const row = w.subarray(r * rowBytes, (r + 1) * rowBytes);
            const want = q4kReference(row, acts[m]!, cols, orders[m] === 1);
            assert.equal(y[m * ROWS + r], want, `cols ${cols} orders ${orders.join("")} act ${m} row ${r}`);
            if (want !== q4kReference(row, acts[m]!, cols, orders[m] !== 1)) ordersDiffer++;
          }
      }
    }
  }
  assert.ok(ordersDiffer > 0, "the two orders never differed: the test could not tell them apart");
  assert.throws(() => k.matmul(GgmlType.Q4_K, new Uint8Array(144), 1, 256, new Float32Array(512), 2, "auto", undefined, new Uint8Array(3)),
    /gemmOrder must hold one entry per activation row/);
});

// One activation row (decode): the AVX-512 and AVX2 Q4_K/Q6_K single-row kernels read a band's rows as 2 or 4
// runs side by side (Q4_K's rows of a pass reduced together, as vector lanes), and only for rows of 2048+ elements
// in bands of their own size: a matrix of ~19 MB gives guided bands from several MB (Q4_K's 4 runs) down to 64 KB
// (2 runs), odd row counts leave rows over. Each output must keep its row's bits: the same as the few-rows kernel's
// for that row (two equal activation rows: another kernel, the same order), and for Q4_K llama.cpp's one-row order
// itself. Q5_K's single-row kernel (one row at a time) is checked against the few-rows kernel likewise.
test("Q4_K/Q6_K (and Q5_K) single-row decode in side-by-side runs: every output has the bits of its row alone", () => {
  const rand = prng(29);
  for (const [type, cols, rows] of [[GgmlType.Q4_K, 2048, 16387], [GgmlType.Q4_K, 3072, 4099], [GgmlType.Q6_K, 3072, 7683], [GgmlType.Q5_K, 2048, 1027]] as const) {
    const w = randomWeights(rand, type, rows, cols);
    const rowBytes = w.length / rows;
    const x = randomFloats(rand, cols);
    const one = k.matmul(type, w, rows, cols, x, 1);
    const twice = new Float32Array(2 * cols);
    twice.set(x);
    twice.set(x, cols);
    const pair = k.matmul(type, w, rows, cols, twice, 2);
    for (let r = 0; r < rows; r++) {
      assert.equal(one[r], pair[r], `${typeName(type)} cols ${cols} row ${r} against the few-rows kernel`);
      assert.equal(one[r], pair[rows + r], `${typeName(type)} cols ${cols} row ${r} against the few-rows kernel's second row`);
    }
    if (type !== GgmlType.Q4_K) continue;
    const act = k.quantizeActivations(type, x);
    for (let r = 0; r < rows; r += 97) {
      assert.equal(one[r], q4kReference(w.subarray(r * rowBytes, (r + 1) * rowBytes), act, cols, false), `Q4_K cols ${cols} row ${r}`);
    }
  }
});

// The Q4_K wide pass (1..16 activation rows) takes its mins through its own layouts (two pairs of 32-element sums
// per vector up to 8 rows, one beyond) and reduces the rows' integer sums in one tree per width. Raw random bytes
// give every scale and min their full 6 bits, and activations with 32-element runs of one sign the largest sums
// (|bsum pair| ~4000): a min or a sum put in another row's lane, or lost to saturation, changes the output.
test("Q4_K wide passes of 1..16 rows with full-range scales, mins and activation sums equal llama.cpp's one-row order", () => {
  const rand = prng(41);
  const rows = 21;
  for (const cols of [512, 2048]) {
    const w = new Uint8Array(rows * (cols / 256) * 144);
    for (let i = 0; i < w.length; i++) w[i] = Math.floor(rand() * 256);
    const wv = new DataView(w.buffer);
    for (let b = 0; b < w.length; b += 144) {  // d and dmin: positive f16 in [2^-10, 2^-9)
      wv.setUint16(b, (5 << 10) | Math.floor(rand() * 1024), true);
      wv.setUint16(b + 2, (5 << 10) | Math.floor(rand() * 1024), true);
    }
    const rowBytes = w.length / rows;
    for (const nAct of [1, 2, 5, 7, 8, 9, 12, 16]) {
      const x = new Float32Array(nAct * cols);
      for (let i = 0; i < x.length; i += 32) {
        const sign = rand() < 0.5 ? -1 : 1;
        for (let l = 0; l < 32; l++) x[i + l] = sign * (0.9 + 0.1 * rand());
      }
      const y = k.matmul(GgmlType.Q4_K, w, rows, cols, x, nAct);
      for (let m = 0; m < nAct; m++) {
        const act = k.quantizeActivations(GgmlType.Q4_K, x.subarray(m * cols, (m + 1) * cols));
        for (let r = 0; r < rows; r++)
          assert.equal(y[m * rows + r], q4kReference(w.subarray(r * rowBytes, (r + 1) * rowBytes), act, cols, false), `cols ${cols} nAct ${nAct} act ${m} row ${r}`);
      }
    }
  }
});
