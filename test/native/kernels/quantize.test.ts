import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType, readGguf, readTensorData } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { noShared, prng, sharedModel } from "../../helpers/index.ts";
import { randomFloats, typeName } from "./random-weights.ts";

// Round trip: quantize then dequantize; the RMS error relative to the data's RMS must stay under the type's bound
// (loose: the test data has 1% outliers at 8σ, which hurt the per-block-absmax formats most) and the dequantizer must be deterministic.
const ROUND_TRIP_BOUND: ReadonlyArray<[GgmlType, number]> = [
  [GgmlType.F16, 1e-3], [GgmlType.BF16, 8e-3], [GgmlType.Q8_0, 0.01], [GgmlType.Q6_K, 0.03], [GgmlType.Q5_0, 0.12],
  [GgmlType.Q5_1, 0.1], [GgmlType.Q5_K, 0.06], [GgmlType.Q4_0, 0.25], [GgmlType.Q4_1, 0.2], [GgmlType.Q4_K, 0.12],
  [GgmlType.Q3_K, 0.25], [GgmlType.Q2_K, 0.5],
];

for (const [type, bound] of ROUND_TRIP_BOUND) {
  test(`${typeName(type)}: quantize → dequantize round trip stays within ${bound} relative RMS error`, () => {
    const rand = prng(300 + type);
    for (const n of [256, 512, 4096]) {
      const x = randomFloats(rand, n, 0.02);
      const q = k.quantizeRow(type, x);
      const y = k.dequantizeRow(type, q, n);
      let err = 0, ref = 0;
      for (let i = 0; i < n; i++) { err += (y[i]! - x[i]!) ** 2; ref += x[i]! ** 2; }
      assert.ok(Math.sqrt(err / ref) < bound, `n ${n}: relative RMS error ${Math.sqrt(err / ref)}`);
      assert.deepEqual(k.quantizeRow(type, x), q, "quantizing twice gives the same bytes");
    }
  });
}

test("all-zero blocks quantize to zero scales and dequantize to zeros", () => {
  for (const [type] of ROUND_TRIP_BOUND) {
    const y = k.dequantizeRow(type, k.quantizeRow(type, new Float32Array(256)), 256);
    assert.ok(y.every((v) => v === 0), typeName(type));
  }
});

// llama-quantize (no imatrix) writes every quantized tensor with quantize_row_*_ref: quantizing the f32 model's
// tensors must reproduce the shared quantized files byte for byte, whatever type each tensor was given.
// (The whole-file check for every shared mix, Q4_K/Q5_0/Q6_K included, is test/core/quantize/quantize.test.ts.)
for (const file of ["stories15M-q8_0.gguf", "stories15M-q4_0.gguf"]) {
  test(`quantizing stories15M-f32 reproduces ${file}'s tensor data bit for bit`, { skip: noShared }, () => {
    const src = readGguf(sharedModel("stories15M-f32.gguf"));
    const dst = readGguf(sharedModel(file));
    const byName = new Map(src.tensors.map((t) => [t.name, t]));
    const types = new Set<string>();
    for (const t of dst.tensors) {
      const s = byName.get(t.name);
      assert.ok(s, `tensor ${t.name} missing from the f32 file`);
      const floats = new Float32Array(readTensorData(src, s).buffer);
      const want = readTensorData(dst, t);
      if (t.type === GgmlType.F32) {
        assert.deepEqual(want, new Uint8Array(floats.buffer), t.name);
        continue;
      }
      const cols = t.dims[0]!, rows = t.nElements / cols;
      const rowBytes = t.nBytes / rows;
      for (let r = 0; r < rows; r++) {
        const got = k.quantizeRow(t.type, floats.subarray(r * cols, (r + 1) * cols));
        const expected = want.subarray(r * rowBytes, (r + 1) * rowBytes);
        if (Buffer.compare(got, expected) !== 0) assert.fail(`${t.name} (${typeName(t.type)}) row ${r} differs from llama-quantize's`);
      }
      types.add(typeName(t.type));
    }
    assert.ok(types.size > 0);
  });
}
