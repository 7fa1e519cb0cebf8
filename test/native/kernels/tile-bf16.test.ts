import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { prng } from "../../helpers/index.ts";

// BF16 weights give vdpbf16ps's bits (llama.cpp's zen4 build) on every variant: AVX-512 runs the instruction, or on
// Intel its f32-FMA twin for batches (CpuFeatures::bf16_fma), or without AVX512-BF16 the twin everywhere; AVX2 and
// the scalar reference run the twin (native/kernels/bf16_twin.h: the odd product then the even one, DAZ and FTZ over
// the steps). The twin must give the instruction's bits where an f32 FMA chain alone would not: bf16 denormals
// (vdpbf16ps takes them as zero), products and sums that underflow (flushed), products that overflow, and pairs
// whose products cancel; in batches (tinyBLAS's order) and in lone rows (ggml_vec_dot_bf16's: a row alone, and rows
// of a batch each summed alone). The AVX-512 choices are made once per process (INFER_REPL_BF16_FMA=0|1,
// INFER_REPL_AVX512BF16=0), so each runs in a child of its own on the same inputs, with the instruction available
// (no INFER_REPL_KERNELS cap): the child of INFER_REPL_BF16_FMA=0 computes the instruction's bits and the other
// variants'.
const hasBf16 = readFileSync("/proc/cpuinfo", "utf8").includes("avx512_bf16");
const kernelsUrl = new URL("../../../core/native-kernels.ts", import.meta.url).href;
// Tiles of 4 weight rows; 7 activation rows: AVX-512's 4x5 tile and a 4x2 one, AVX2's 3x4 and 3x3; 1056 columns: 16
// 64-element steps of a lone row and 32 leftovers, and AVX2's batch passes of 512, 512 and 32 elements (each pass's
// weight rows converted into its panel, tinyblas_gemm.h).
const ROWS = 12, COLS = 1056, N_ACT = 7;

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

/** Outputs of `runs` (variant:batch, variant:lone: every row alone, the decode kernel; variant:rows: the rows in one
 *  call, each summed alone) in a child with the environment `env` (named `tag`), as one array per run. */
function childOutputs(dir: string, tag: string, env: Record<string, string>, runs: string[]): Uint32Array[] {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.INFER_REPL_KERNELS;
  execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e",
    `import { readFileSync, writeFileSync } from "node:fs";
     import { nativeKernels as k } from ${JSON.stringify(kernelsUrl)};
     const [dir, tag, rows, cols, nAct, ...runs] = process.argv.slice(1);
     const w = new Uint8Array(readFileSync(dir + "/w.bin")), xb = readFileSync(dir + "/x.bin");
     const x = new Float32Array(xb.buffer, xb.byteOffset, xb.byteLength / 4);
     for (const run of runs) {
       const [variant, mode] = run.split(":");
       let y;
       if (mode === "batch") y = k.matmul(${GgmlType.BF16}, w, +rows, +cols, x, +nAct, variant);
       else if (mode === "rows") y = k.matmul(${GgmlType.BF16}, w, +rows, +cols, x, +nAct, variant, undefined, new Uint8Array(+nAct));
       else {
         y = new Float32Array(+rows * +nAct);
         for (let m = 0; m < +nAct; m++) y.set(k.matmul(${GgmlType.BF16}, w, +rows, +cols, x.subarray(m * +cols, (m + 1) * +cols), 1, variant), m * +rows);
       }
       writeFileSync(dir + "/" + run.replace(":", "-") + "-" + tag, y);
     }`,
    dir, tag, String(ROWS), String(COLS), String(N_ACT), ...runs], { env: childEnv, stdio: "pipe" });
  return runs.map((run) => {
    const y = readFileSync(path.join(dir, `${run.replace(":", "-")}-${tag}`));
    return new Uint32Array(y.buffer, y.byteOffset, y.byteLength / 4);
  });
}

function assertSameBits(got: Uint32Array, want: Uint32Array, what: string) {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++)
    assert.equal(got[i]!.toString(16), want[i]!.toString(16), `${what}: activation row ${Math.floor(i / ROWS)}, weight row ${i % ROWS}`);
}

test("BF16 on every variant: vdpbf16ps's bits on denormal, underflowing, overflowing and cancelling operands", { skip: !hasBf16 && "no AVX512-BF16" }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "tile-bf16-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { w, x } = inputs();
  writeFileSync(path.join(dir, "w.bin"), new Uint8Array(w.buffer));
  writeFileSync(path.join(dir, "x.bin"), new Uint8Array(x.buffer));
  const runs = ["avx512:batch", "avx512:lone", "avx512:rows", "avx2:batch", "avx2:lone", "avx2:rows", "scalar:batch", "scalar:lone", "scalar:rows"];
  const dp = childOutputs(dir, "dp", { INFER_REPL_BF16_FMA: "0" }, runs);
  const [batch, lone] = [dp[0]!, dp[1]!];
  assert.equal(batch.length, ROWS * N_ACT);
  // The inputs reach what they are for: sums next to the denormal range, overflows; the two orders differ.
  for (const y of [batch, lone]) {
    const f = new Float32Array(y.buffer, y.byteOffset, y.length);
    assert.ok(f.some((v) => !Number.isFinite(v)) && f.some((v) => Math.abs(v) < 1e-36), "input coverage");
  }
  assert.ok(batch.some((v, i) => v !== lone[i]), "the batch and lone-row orders differ");
  runs.forEach((run, i) => assertSameBits(dp[i]!, run.endsWith(":batch") ? batch : lone, `${run} against vdpbf16ps`));
  // AVX-512's batches by the twin (Intel's default), and every AVX-512 path as on a CPU without AVX512-BF16.
  const [fmaBatch] = childOutputs(dir, "fma", { INFER_REPL_BF16_FMA: "1" }, ["avx512:batch"]);
  assertSameBits(fmaBatch!, batch, "avx512:batch with INFER_REPL_BF16_FMA=1");
  const noBf16 = childOutputs(dir, "nobf16", { INFER_REPL_AVX512BF16: "0" }, ["avx512:batch", "avx512:lone", "avx512:rows"]);
  noBf16.forEach((y, i) => assertSameBits(y, i === 0 ? batch : lone, `${["batch", "lone", "rows"][i]} with INFER_REPL_AVX512BF16=0`));
});
