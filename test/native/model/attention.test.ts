import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { GgmlType, GgufValueType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { runNode } from "../../helpers/cli.ts";
import { ourStepLogits } from "../../helpers/step-logits.ts";
import { noShared } from "../../helpers/index.ts";
import { writeSyntheticModel, type SyntheticSpec } from "../../helpers/synthetic-model.ts";

// Decode scores against the f16 KV cache (attention.cc) are dot_f16_ggml's arithmetic, llama.cpp's AVX-512 order,
// on every CPU: 8 positions in lanes on AVX+FMA+F16C (the avx2 variant's CPUs) as 16 on AVX-512. Heads of 48 take
// only its double part, 64 and 128 only its f32 part, 80 both. A child process per variant (the variant is chosen
// once per process) prints a hash of each step's logits: a 3-token prompt, then 45 tokens fed one at a time, so the
// contexts cover whole groups of 8 and 16 positions, runs of 4 groups and a partial last group. (The scalar variant
// is left out: its logits differ from the SIMD ones before attention, in this F32-headed file's prompt row too.)
//
// A prompt of 64+ tokens is llama.cpp's batch arithmetic (tiles of 64 positions, f32 scores and accumulator, its
// vectorized expf): attend_batch_tile runs it for every query and head of an attend_tile call, converting each K
// group and V row once for all the pairs of one KV head, in 8-lane halves on AVX and 16 lanes on AVX-512. A
// 150-token prompt (3 tiles, the last partial; 19 query tiles of 8, the last of 6) and 4 tokens after it, through
// grouped heads (2 to 4 query heads a KV head), heads of 80 (10 AVX vectors: V passes of 2 and the remainder),
// and Gemma 2's soft-cap with a 40-position window on every other layer (pairs starting past a tile's first
// position, tiles skipped before the window).
const CHILD = "INFER_REPL_ATTENTION_TEST_MODEL";
const PREFILL = "INFER_REPL_ATTENTION_TEST_PREFILL";
const HEAD_DIMS = [48, 64, 80, 128];
const PREFILL_MODELS: [string, SyntheticSpec][] = [
  ["grouped heads of 64", { architecture: "qwen3", nEmbd: 128, nLayer: 2, nHead: 8, nHeadKv: 2, headDim: 64, nFf: 256, seed: 7, weightType: GgmlType.Q8_0 }],
  ["heads of 80", { architecture: "qwen3", nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 80, nFf: 256, seed: 8, weightType: GgmlType.Q8_0 }],
  ["grouped heads of 128", { architecture: "qwen3", nEmbd: 128, nLayer: 2, nHead: 6, nHeadKv: 2, headDim: 128, nFf: 256, seed: 9, weightType: GgmlType.Q8_0 }],
  ["a sliding window and soft-cap", { architecture: "gemma2", nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 64, nFf: 256, seed: 10, weightType: GgmlType.Q8_0,
    extraMetadata: [["gemma2.attention.sliding_window", { type: GgufValueType.UINT32, value: 40 }]] }],
];

if (process.env[CHILD]) {
  const prefill = process.env[PREFILL] === "1";
  const prompt = prefill ? Array.from({ length: 150 }, (_, i) => 5 + ((i * 131) % 480)) : [1, 17, 42];
  const rows = await ourStepLogits(process.env[CHILD], prompt, Array.from({ length: prefill ? 4 : 45 }, (_, i) => 3 + ((i * 97) % 500)));
  console.log(JSON.stringify(rows.map((r) => createHash("sha256").update(r).digest("hex"))));
} else {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-attention-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const hasAvx512 = k.cpuFeatures().variants.includes("avx512");
  const hashes = async (file: string, variant: string, prefill = false) => {
    const r = await runNode(["--import", "tsx", fileURLToPath(import.meta.url)], "", { [CHILD]: file, [PREFILL]: prefill ? "1" : "0", INFER_REPL_KERNELS: variant });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as string[];
  };

  for (const headDim of HEAD_DIMS) {
    test(`head size ${headDim}: avx2 decode logits are the avx512 variant's bits`, { skip: (noShared || !hasAvx512) && "needs the shared files and a CPU with AVX-512", timeout: 300_000 }, async () => {
      const file = path.join(dir, `hd${headDim}.gguf`);
      // Q8_0 layers: their kernels give the same bits on every variant, so only attention's could differ.
      writeSyntheticModel(file, { architecture: "qwen3", nEmbd: 128, nLayer: 2, nHead: 2, nHeadKv: 1, headDim, nFf: 256, seed: headDim, weightType: GgmlType.Q8_0 });
      assert.deepEqual(await hashes(file, "avx2"), await hashes(file, "avx512"));
    });
  }

  for (const [name, spec] of PREFILL_MODELS) {
    test(`${name}: avx2 batch-arithmetic prefill logits are the avx512 variant's bits`, { skip: (noShared || !hasAvx512) && "needs the shared files and a CPU with AVX-512", timeout: 300_000 }, async () => {
      const file = path.join(dir, `prefill-${spec.seed}.gguf`);
      writeSyntheticModel(file, spec);
      assert.deepEqual(await hashes(file, "avx2", true), await hashes(file, "avx512", true));
    });
  }
}
