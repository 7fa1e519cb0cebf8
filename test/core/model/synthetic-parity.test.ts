import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Engine } from "../../../core/engine.ts";
import { llamaCppLogits, rowRelativeError } from "../../helpers/llama-cpp.ts";
import { noShared, prng } from "../../helpers/index.ts";
import { writeSyntheticModel, type SyntheticSpec } from "../../helpers/synthetic-model.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-synth-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const cases: [string, SyntheticSpec][] = [
  ["llama with GQA", { architecture: "llama", nEmbd: 128, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 320, seed: 11 }],
  ["llama with an untied output head", { architecture: "llama", nEmbd: 64, nLayer: 3, nHead: 4, nHeadKv: 4, nFf: 160, seed: 12, untiedOutput: true }],
  ["qwen2 (QKV bias, NEOX RoPE)", { architecture: "qwen2", nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, seed: 13, ropeBase: 1000000 }],
  ["qwen3 (per-head Q/K norm, head dim != embd/heads)", { architecture: "qwen3", nEmbd: 96, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 192, headDim: 32, seed: 14 }],
];

for (const [name, spec] of cases) {
  test(`synthetic ${name}: logits at all 32 positions match llama.cpp within 1e-3 relative`, { skip: noShared }, async () => {
    const file = path.join(dir, `${spec.architecture}-${spec.seed}.gguf`);
    writeSyntheticModel(file, spec);
    const rand = prng(spec.seed! + 100);
    const tokens = [1, ...Array.from({ length: 31 }, () => 3 + Math.floor(rand() * 509))];

    const expected = await llamaCppLogits(file, tokens);
    const engine = await Engine.load({ model: file, threads: 2 });
    const ours = await engine.logits(tokens);
    const vocab = engine.model.hparams.nVocab;
    let worst = 0;
    for (let i = 0; i < tokens.length; i++) {
      worst = Math.max(worst, rowRelativeError(ours.subarray(i * vocab, (i + 1) * vocab), expected[i]!));
    }
    assert.ok(worst < 1e-3, `worst relative error ${worst.toExponential(2)}`);
  });
}
