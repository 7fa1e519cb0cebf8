import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { Engine } from "../../core/engine.ts";
import { rowRelativeError } from "../helpers/llama-cpp.ts";
import { noShared, prng } from "../helpers/index.ts";
import { writeSyntheticModel } from "../helpers/synthetic-model.ts";

// The q8_0 KV cache on a model whose head size (32) allows it: the shared stories models have 48 or 8.
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-kv-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, "llama-hd32.gguf");

async function llamaCppQ8Logits(tokens: number[]): Promise<ReadonlyMap<number, number>[]> {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file });
  const context = await model.createContext({
    contextSize: 256, flashAttention: true, threads: 2, experimentalKvCacheKeyType: "Q8_0", experimentalKvCacheValueType: "Q8_0",
  });
  try {
    const out = await context.getSequence().controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { logits: true } }]));
    return out.map((o) => o!.next.logits!);
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

test("kvType q8_0: logits at 48 positions agree with llama.cpp's q8_0 cache; greedy batched = sequential", { skip: noShared }, async () => {
  writeSyntheticModel(file, { architecture: "llama", nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, seed: 31 });
  const rand = prng(5);
  const tokens = [1, ...Array.from({ length: 47 }, () => 3 + Math.floor(rand() * 509))];
  const engine = await Engine.load({ model: file, threads: 2, kvType: "q8_0" });
  const f16 = await Engine.load({ model: file, threads: 2, kvType: "f16" });
  const ours = await engine.logits(tokens), oursF16 = await f16.logits(tokens);
  const expected = await llamaCppQ8Logits(tokens);
  const vocab = engine.model.hparams.nVocab;
  let worst = 0, differsFromF16 = false;
  for (let i = 0; i < tokens.length; i++) {
    const row = ours.subarray(i * vocab, (i + 1) * vocab);
    worst = Math.max(worst, rowRelativeError(row, expected[i]!));
    if (row.some((x, j) => x !== oursF16[i * vocab + j])) differsFromF16 = true;
  }
  console.log(`worst relative error vs llama.cpp with a q8_0 cache: ${worst.toExponential(2)}`);
  assert.ok(differsFromF16, "the q8_0 cache is really used (logits differ from the f16 cache's)");
  assert.ok(worst < 1e-5, `worst relative error vs llama.cpp (q8_0 K/V) ${worst.toExponential(2)}`);

  const prompts = Array.from({ length: 6 }, (_, i) => tokens.slice(0, 4 + i * 7));
  const alone: number[][] = [];
  for (const p of prompts) alone.push((await engine.generate(p, { temperature: 0, ignoreEos: true, maxTokens: 10 })).tokens);
  const together = await Promise.all(prompts.map((p) => engine.generate(p, { temperature: 0, ignoreEos: true, maxTokens: 10 })));
  assert.deepEqual(together.map((r) => r.tokens), alone);
});
