import assert from "node:assert/strict";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { prng } from "../../helpers/index.ts";
import { randomFloats, randomWeights, typeName } from "./random-weights.ts";

// The packed kernels (native/kernels/tile_packed.cc) must give exactly the unpacked AVX-512 kernels' results, which
// reproduce llama.cpp's float order (matmul.test.ts checks those against the scalar reference within rounding).
const noAvx512 = !k.cpuFeatures().variants.includes("avx512") && "the packed kernels need AVX-512 VNNI";
const PACKED_TYPES = [GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_0, GgmlType.IQ4_NL];
const ROWS = [...Array.from({ length: 40 }, (_, i) => i + 1), 63, 64, 65, 79, 80, 81];
const COLS = [32, 288, 768, 1024];
const N_ACT = [1, 2, 3, 5, 8, 17];

for (const type of PACKED_TYPES) {
  test(`${typeName(type)}: packed matmul equals the unpacked AVX-512 matmul bit for bit`, { skip: noAvx512 }, () => {
    const rand = prng(3000 + type);
    for (const cols of COLS) {
      const maxRows = ROWS[ROWS.length - 1]!;
      const all = randomWeights(rand, type, maxRows, cols);
      const rowBytes = all.length / maxRows;
      const xs = new Map(N_ACT.map((n) => [n, randomFloats(rand, n * cols)]));
      for (const rows of ROWS) {
        const w = all.subarray(0, rows * rowBytes);
        const packed = k.pack(type, w, rows, cols)!;
        for (const nAct of N_ACT) {
          const x = xs.get(nAct)!;
          assert.deepEqual(k.matmul(type, w, rows, cols, x, nAct, "avx512", packed), k.matmul(type, w, rows, cols, x, nAct, "avx512"),
            `rows ${rows} cols ${cols} nAct ${nAct}`);
        }
      }
    }
  });

  test(`${typeName(type)}: a packed row's result does not depend on the other activation rows (batch invariance)`, { skip: noAvx512 }, () => {
    const rand = prng(4000 + type);
    const rows = 48, cols = 288, nAct = 17;
    const w = randomWeights(rand, type, rows, cols);
    const packed = k.pack(type, w, rows, cols)!;
    const x = randomFloats(rand, nAct * cols);
    const all = k.matmul(type, w, rows, cols, x, nAct, "avx512", packed);
    for (let m = 0; m < nAct; m++) {
      const one = k.matmul(type, w, rows, cols, x.subarray(m * cols, (m + 1) * cols), 1, "avx512", packed);
      assert.deepEqual(one, all.subarray(m * rows, (m + 1) * rows), `activation row ${m}`);
    }
  });
}

test("matmulGroup with packed and unpacked matrices gives each matrix's own unpacked result", { skip: noAvx512 }, () => {
  const rand = prng(17);
  const cols = 256;
  const specs: [GgmlType, number, boolean][] = [[GgmlType.Q8_0, 40, true], [GgmlType.Q4_0, 33, false], [GgmlType.Q6_K, 20, false],
    [GgmlType.Q4_0, 48, true], [GgmlType.Q8_0, 17, false]];
  const mats = specs.map(([type, rows, pack]) => {
    const weights = randomWeights(rand, type, rows, cols);
    return { type, rows, weights, packed: pack ? k.pack(type, weights, rows, cols)! : undefined };
  });
  for (const nAct of [1, 5]) {
    const x = randomFloats(rand, nAct * cols);
    const outs = k.matmulGroup(mats, cols, x, nAct, "avx512");
    mats.forEach((m, i) => assert.deepEqual(outs[i], k.matmul(m.type, m.weights, m.rows, cols, x, nAct, "avx512"), `matrix ${i}`));
  }
});

test("other variants ignore a packed copy", () => {
  const rand = prng(19);
  const rows = 32, cols = 64;
  const w = randomWeights(rand, GgmlType.Q8_0, rows, cols);
  const packed = k.pack(GgmlType.Q8_0, w, rows, cols)!;
  const x = randomFloats(rand, 3 * cols);
  assert.deepEqual(k.matmul(GgmlType.Q8_0, w, rows, cols, x, 3, "scalar", packed), k.matmul(GgmlType.Q8_0, w, rows, cols, x, 3, "scalar"));
});

test("pack refuses bad input and returns null for types without a packed form", () => {
  const w = k.quantizeRow(GgmlType.Q8_0, new Float32Array(32 * 64));
  assert.equal(k.pack(GgmlType.Q6_K, new Uint8Array(210), 1, 256), null);
  assert.throws(() => k.pack(GgmlType.Q8_0, w.subarray(1), 32, 64), /rows \* row bytes/);
  const packed = k.pack(GgmlType.Q8_0, w, 32, 64)!;
  const x = new Float32Array(64);
  assert.throws(() => k.matmul(GgmlType.Q8_0, w, 32, 64, x, 1, "auto", packed.subarray(64)), /does not match/);
  assert.throws(() => k.matmul(GgmlType.Q8_0, w.subarray(0, 34 * 2 * 16), 16, 64, x, 1, "auto", packed), /does not match/);
  assert.throws(() => k.matmulGroup([{ type: GgmlType.Q6_K, rows: 1, weights: new Uint8Array(210), packed }], 256, new Float32Array(256), 1),
    /no packed form/);
});

// The model releases an original's pages once its packed copy exists and reads single rows back from the copy
// (read_row: embedding lookups of a tied head, matmul_argmax's candidates, reduced heads): the copy must hold
// every byte of those rows.
for (const type of PACKED_TYPES) {
  test(`${typeName(type)}: every packed row reads back as the original bytes`, { skip: noAvx512 }, () => {
    const rand = prng(4000 + type);
    for (const [rows, cols] of [[16, 32], [48, 288], [37, 1024]] as const) {
      const w = randomWeights(rand, type, rows, cols);
      const rowBytes = w.length / rows;
      const packed = k.pack(type, w, rows, cols)!;
      for (let r = 0; r < Math.floor(rows / 16) * 16; r++) {
        assert.deepEqual(k.unpackRow(type, packed, rows, cols, r), w.subarray(r * rowBytes, (r + 1) * rowBytes), `rows ${rows} cols ${cols} row ${r}`);
      }
    }
    assert.throws(() => k.unpackRow(type, k.pack(type, randomWeights(rand, type, 16, 32), 16, 32)!, 16, 32, 16), /packed groups/);
  });
}
