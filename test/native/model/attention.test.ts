import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { GgmlType } from "../../../core/gguf/index.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { runNode } from "../../helpers/cli.ts";
import { ourStepLogits } from "../../helpers/step-logits.ts";
import { noShared } from "../../helpers/index.ts";
import { writeSyntheticModel } from "../../helpers/synthetic-model.ts";

// Decode scores against the f16 KV cache (attention.cc) are dot_f16_ggml's arithmetic, llama.cpp's AVX-512 order,
// on every CPU: 8 positions in lanes on AVX+FMA+F16C (the avx2 variant's CPUs) as 16 on AVX-512. Heads of 48 take
// only its double part, 64 and 128 only its f32 part, 80 both. A child process per variant (the variant is chosen
// once per process) prints a hash of each step's logits: a 3-token prompt, then 45 tokens fed one at a time, so the
// contexts cover whole groups of 8 and 16 positions, runs of 4 groups and a partial last group. (The scalar variant
// is left out: its logits differ from the SIMD ones before attention, in this F32-headed file's prompt row too.)
const CHILD = "INFER_REPL_ATTENTION_TEST_MODEL";
const HEAD_DIMS = [48, 64, 80, 128];

if (process.env[CHILD]) {
  const rows = await ourStepLogits(process.env[CHILD], [1, 17, 42], Array.from({ length: 45 }, (_, i) => 3 + ((i * 97) % 500)));
  console.log(JSON.stringify(rows.map((r) => createHash("sha256").update(r).digest("hex"))));
} else {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-attention-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const hasAvx512 = k.cpuFeatures().variants.includes("avx512");

  for (const headDim of HEAD_DIMS) {
    test(`head size ${headDim}: avx2 decode logits are the avx512 variant's bits`, { skip: (noShared || !hasAvx512) && "needs the shared files and a CPU with AVX-512", timeout: 300_000 }, async () => {
      const file = path.join(dir, `hd${headDim}.gguf`);
      // Q8_0 layers: their kernels give the same bits on every variant, so only attention's could differ.
      writeSyntheticModel(file, { architecture: "qwen3", nEmbd: 128, nLayer: 2, nHead: 2, nHeadKv: 1, headDim, nFf: 256, seed: headDim, weightType: GgmlType.Q8_0 });
      const hashes = async (variant: string) => {
        const r = await runNode(["--import", "tsx", fileURLToPath(import.meta.url)], "", { [CHILD]: file, INFER_REPL_KERNELS: variant });
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as string[];
      };
      assert.deepEqual(await hashes("avx2"), await hashes("avx512"));
    });
  }
}
