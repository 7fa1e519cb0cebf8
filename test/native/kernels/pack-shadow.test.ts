import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats } from "./random-weights.ts";

// A float head's Q8_0 estimate copy (native/kernels/pack_shadow.cc) is quantized straight into the packed layout.
// Its bytes must be those of llama.cpp's reference Q8_0 quantization, packed (a Q8_0 draft's head shares the copy
// only when they are), and its norms must bound the rows' (matmul_argmax's candidates rest on them).
const noAvx512 = !k.cpuFeatures().variants.includes("avx512") && "the estimate copy is made for AVX-512 only";
const FLOAT_TYPES = [[GgmlType.F32, "F32"], [GgmlType.F16, "F16"], [GgmlType.BF16, "BF16"]] as const;

/** Random rows, plus blocks whose levels land on halves (amax 127: scale 1), zero blocks and tiny values. */
function headRows(rand: () => number, rows: number, cols: number): Float32Array {
  const w = randomFloats(rand, rows * cols);
  for (let r = 0; r < rows; r++) {
    const at = r * cols;
    if (r % 4 === 1) {
      // x · (1/d) = x exactly: ±k.5 rounds away from zero, as roundf does (not to even).
      for (let j = 0; j < 32; j++) w[at + j] = (j % 2 ? -1 : 1) * (Math.floor(rand() * 126) + 0.5);
      w[at + 31] = -127;
    }
    if (r % 4 === 2) w.fill(0, at, at + 32);
    if (r % 4 === 3) for (let j = 32; j < 64 && j < cols; j++) w[at + j] *= 1e-6;
  }
  return w;
}

function floatBytes(type: GgmlType, w: Float32Array): Uint8Array {
  return type === GgmlType.F32 ? new Uint8Array(w.buffer.slice(0)) : k.quantizeRow(type, w);
}

/** The largest Euclidean norm over the rows of a rows × cols matrix given element by element. */
function maxRowNorm(rows: number, cols: number, at: (r: number, j: number) => number): number {
  let largest = 0;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += at(r, j) ** 2;
    largest = Math.max(largest, Math.sqrt(s));
  }
  return largest;
}

for (const [type, name] of FLOAT_TYPES) {
  test(`${name} head: the estimate copy is the reference Q8_0 quantization, packed, and its norms bound the rows'`, { skip: noAvx512 }, () => {
    const rand = prng(7100 + type);
    for (const [rows, cols] of [[16, 32], [48, 288], [272, 2048]] as const) {
      const bytes = floatBytes(type, headRows(rand, rows, cols));
      const shadow = k.argmaxShadow(type, bytes, rows, cols);
      assert.ok(shadow, `${rows}x${cols}: a copy`);
      const rowBytes = bytes.length / rows;
      const w = Array.from({ length: rows }, (_, r) => k.dequantizeRow(type, bytes.subarray(r * rowBytes, (r + 1) * rowBytes), cols));
      const q8 = w.map((row) => k.quantizeRow(GgmlType.Q8_0, row));
      const flat = new Uint8Array(q8.reduce((n, q) => n + q.length, 0));
      q8.forEach((q, r) => flat.set(q, r * q.length));
      assert.deepEqual(shadow.packed, k.pack(GgmlType.Q8_0, flat, rows, cols), `${rows}x${cols}: packed bytes`);

      const copy = q8.map((q) => k.dequantizeRow(GgmlType.Q8_0, q, cols));
      let maxScale = 0;
      for (const q of q8) for (let b = 0; b < q.length; b += 34) maxScale = Math.max(maxScale, Math.abs(halfAt(q, b)));
      assert.equal(shadow.maxAbsScale, maxScale, `${rows}x${cols}: largest scale`);
      const norms = [
        ["maxNorm", maxRowNorm(rows, cols, (r, j) => w[r]![j]!)],
        ["maxCopyNorm", maxRowNorm(rows, cols, (r, j) => copy[r]![j]!)],
        ["maxErrorNorm", maxRowNorm(rows, cols, (r, j) => w[r]![j]! - copy[r]![j]!)],
      ] as const;
      for (const [key, want] of norms) {
        assert.ok(shadow[key] >= want && shadow[key] <= want * (1 + 1e-6) + 1e-30, `${rows}x${cols} ${key}: ${shadow[key]} for ${want}`);
      }
    }
  });
}

/** A Q8_0 block's f16 scale (at byte b of a row) as a number. */
function halfAt(q: Uint8Array, b: number): number {
  const h = q[b]! | (q[b + 1]! << 8);
  const exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  const v = exp === 0 ? frac * 2 ** -24 : (1 + frac / 1024) * 2 ** (exp - 15);
  return h & 0x8000 ? -v : v;
}
