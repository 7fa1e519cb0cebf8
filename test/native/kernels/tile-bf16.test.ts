import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { prng } from "../../helpers/index.ts";

// BF16 batches (native/kernels/tile_bf16.cc) run vdpbf16ps, or on Intel its f32-FMA twin (CpuFeatures::bf16_fma:
// the odd product then the even one, DAZ and FTZ over the steps). The twin must give the instruction's bits where
// an f32 FMA chain alone would not: bf16 denormals (vdpbf16ps takes them as zero), products and sums that
// underflow (flushed), products that overflow, and pairs whose products cancel. The choice is made once per
// process (INFER_REPL_BF16_FMA=0|1), so each side runs in a child of its own on the same inputs.
const hasBf16 = readFileSync("/proc/cpuinfo", "utf8").includes("avx512_bf16");
const kernelsUrl = new URL("../../../core/native-kernels.ts", import.meta.url).href;
const ROWS = 12, COLS = 320, N_ACT = 7;  // tiles of 4 weight rows; 7 activation rows: the 4x5 tile and a 4x2 one

/** A bf16 bit pattern of a kind: 0 moderate, 1 denormal, 2 tiny (products underflow), 3 huge, 4 near 1, 5 the
 *  smallest normals, 6 below 1 (5 against 6: products and sums about the f32 denormal range). */
function bf16Of(rand: () => number, kind: number): number {
  const sign = rand() < 0.5 ? 0x8000 : 0, man = Math.floor(rand() * 128);
  const exp = [100 + Math.floor(rand() * 51), 0, 30 + Math.floor(rand() * 40), 190 + Math.floor(rand() * 64), 126 + Math.floor(rand() * 3), 1 + Math.floor(rand() * 2), 118 + Math.floor(rand() * 9)][kind]!;
  return sign | (exp << 7) | man;
}

/** Weight rows 0-3 below 1 or at the normal range's bottom, rows 4-11 of every kind (huge ones rare: two huge
 *  operands overflow); activation rows 0-1 mixed, 2-3 at the bottom of the range (sums about the denormal range,
 *  where the flush shows), 4 near 1, 5-6 mixed with more huge values. */
function inputs(): { w: Uint16Array; x: Float32Array } {
  const rand = prng(3317);
  const pick = (weights: number[]): number => {
    let u = rand() * weights.reduce((a, b) => a + b, 0), kind = 0;
    while (u >= weights[kind]!) u -= weights[kind++]!;
    return kind;
  };
  const w = Uint16Array.from({ length: ROWS * COLS }, (_, i) => bf16Of(rand, pick(i < 4 * COLS ? [0, 10, 0, 0, 0, 20, 70] : [40, 15, 25, 2, 18, 0, 0])));
  const regimes = [[40, 15, 25, 2, 18, 0], [40, 15, 25, 2, 18, 0], [0, 20, 0, 0, 0, 80], [0, 40, 10, 0, 0, 50], [0, 0, 0, 0, 1, 0],
    [30, 15, 25, 10, 20, 0], [30, 15, 25, 10, 20, 0]];
  const xb = new Uint32Array(N_ACT * COLS);  // f32s that are bf16 values
  for (let m = 0; m < N_ACT; m++) for (let j = 0; j < COLS; j++) xb[m * COLS + j] = bf16Of(rand, pick(regimes[m]!)) << 16;
  // Pairs whose two products cancel exactly: equal weights, opposite activations.
  for (let r = 0; r < ROWS; r++)
    for (let j = 0; j < COLS; j += 2) if (rand() < 0.2) w[r * COLS + j + 1] = w[r * COLS + j]!;
  for (let m = 0; m < N_ACT; m++)
    for (let j = 0; j < COLS; j += 2) if (rand() < 0.3) xb[m * COLS + j + 1] = (xb[m * COLS + j]! ^ 0x80000000) >>> 0;
  return { w, x: new Float32Array(xb.buffer) };
}

function childOutputs(dir: string, fma: "0" | "1"): Uint32Array {
  const out = path.join(dir, `y${fma}.bin`);
  execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e",
    `import { readFileSync, writeFileSync } from "node:fs";
     import { nativeKernels as k } from ${JSON.stringify(kernelsUrl)};
     const [dir, out, rows, cols, nAct] = process.argv.slice(1);
     const w = new Uint8Array(readFileSync(dir + "/w.bin")), xb = readFileSync(dir + "/x.bin");
     const x = new Float32Array(xb.buffer, xb.byteOffset, xb.byteLength / 4);
     writeFileSync(out, k.matmul(${GgmlType.BF16}, w, +rows, +cols, x, +nAct));`,
    dir, out, String(ROWS), String(COLS), String(N_ACT)], { env: { ...process.env, INFER_REPL_BF16_FMA: fma }, stdio: "pipe" });
  const y = readFileSync(out);
  return new Uint32Array(y.buffer, y.byteOffset, y.byteLength / 4);
}

test("BF16 batches: the f32-FMA twin gives vdpbf16ps's bits on denormal, underflowing, overflowing and cancelling operands", { skip: !hasBf16 && "no AVX512-BF16" }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "tile-bf16-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { w, x } = inputs();
  writeFileSync(path.join(dir, "w.bin"), new Uint8Array(w.buffer));
  writeFileSync(path.join(dir, "x.bin"), new Uint8Array(x.buffer));
  const dp = childOutputs(dir, "0"), fma = childOutputs(dir, "1");
  assert.equal(dp.length, ROWS * N_ACT);
  // The inputs reach what they are for: sums next to the denormal range, overflows.
  const f = new Float32Array(dp.buffer, dp.byteOffset, dp.length);
  assert.ok(f.some((v) => !Number.isFinite(v)) && f.some((v) => Math.abs(v) < 1e-36), "input coverage");
  for (let i = 0; i < dp.length; i++)
    assert.equal(fma[i]!.toString(16), dp[i]!.toString(16), `activation row ${Math.floor(i / ROWS)}, weight row ${i % ROWS}`);
});
