import { GgmlType, ggmlTypeName } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";

/** Every weight type the kernels compute with, with the row lengths worth testing for it. */
const BLOCK32 = [32, 64, 288, 512, 4096];
const SUPER = [256, 512, 768, 4096];
export const KERNEL_TYPES: ReadonlyArray<{ type: GgmlType; cols: number[] }> = [
  { type: GgmlType.F32, cols: [1, 33, 288, 4096] },
  { type: GgmlType.F16, cols: [1, 33, 288, 4096] },
  { type: GgmlType.BF16, cols: [1, 33, 288, 4096] },
  { type: GgmlType.Q4_0, cols: BLOCK32 },
  { type: GgmlType.Q4_1, cols: BLOCK32 },
  { type: GgmlType.Q5_0, cols: BLOCK32 },
  { type: GgmlType.Q5_1, cols: BLOCK32 },
  { type: GgmlType.Q8_0, cols: BLOCK32 },
  { type: GgmlType.IQ4_NL, cols: BLOCK32 },
  { type: GgmlType.Q2_K, cols: SUPER },
  { type: GgmlType.Q3_K, cols: SUPER },
  { type: GgmlType.Q4_K, cols: SUPER },
  { type: GgmlType.Q5_K, cols: SUPER },
  { type: GgmlType.Q6_K, cols: SUPER },
  { type: GgmlType.IQ4_XS, cols: SUPER },
];

export const typeName = (t: GgmlType): string => ggmlTypeName(t);

/** Gaussian-ish values with a few outliers, like real activations and weights. */
export function randomFloats(rand: () => number, n: number, scale = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const g = (rand() + rand() + rand() + rand() - 2) * scale;
    x[i] = rand() < 0.01 ? g * 8 : g;
  }
  return x;
}

/**
 * A rows × cols weight matrix of `type`: quantized from random floats where a reference quantizer exists; IQ4
 * types (no quantizer here) get random code bytes with a random positive f16 scale per block.
 */
export function randomWeights(rand: () => number, type: GgmlType, rows: number, cols: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let r = 0; r < rows; r++) {
    if (type === GgmlType.IQ4_NL || type === GgmlType.IQ4_XS) parts.push(randomIq4Row(rand, type, cols));
    else parts.push(k.quantizeRow(type, randomFloats(rand, cols)));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function randomIq4Row(rand: () => number, type: GgmlType, cols: number): Uint8Array {
  const blockBytes = type === GgmlType.IQ4_NL ? 18 : 136, blockLen = type === GgmlType.IQ4_NL ? 32 : 256;
  const row = new Uint8Array((cols / blockLen) * blockBytes);
  for (let i = 0; i < row.length; i++) row[i] = Math.floor(rand() * 256);
  const view = new DataView(row.buffer);
  // f16 scale in [2^-8, 2^-7): exponent 7, random mantissa.
  for (let b = 0; b < row.length; b += blockBytes) view.setUint16(b, (7 << 10) | Math.floor(rand() * 1024), true);
  return row;
}
