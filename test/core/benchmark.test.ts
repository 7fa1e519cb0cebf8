import assert from "node:assert/strict";
import { test } from "node:test";
import { runBenchmark } from "../../core/benchmark.ts";
import { Engine, type StepInfo } from "../../core/engine.ts";
import { noShared, sharedModel } from "../helpers/index.ts";

test("batched benchmark: one prefill step for all sequences, then decode-only steps of all of them", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories260K.gguf"), threads: 2, contextSize: 64 });
  const steps: StepInfo[] = [];
  const stop = engine.onStep((s) => steps.push(s));
  const r = await runBenchmark(engine, { promptTokens: 16, genTokens: 8, repetitions: 1, parallel: [4] });
  stop();
  const batched = steps.slice(steps.findIndex((s) => s.prefillTokens === 64)); // the 4 prompts of 16 tokens
  assert.equal(batched[0]!.sequences, 4);
  assert.deepEqual(batched.slice(1).map((s) => s.decodeTokens), Array(8).fill(4), "8 decode steps of 4 tokens after the prefill step");
  assert.ok(r.parallel[0]!.n === 4 && r.parallel[0]!.tokensPerS > 0 && r.tgTokensPerS > 0 && r.ppTokensPerS > 0);
  assert.deepEqual(engine.batching, { maxSeqs: 32, maxBatchTokens: 512, maxWaitMs: 0, prefixCaching: true }, "settings restored");
  await assert.rejects(runBenchmark(engine, { promptTokens: 60, genTokens: 8, repetitions: 1, parallel: [] }), /needs 69 positions/);
});

test("a repeated benchmark measures cold prefill: it never looks up the prefix cache, and restores it after", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories15M-q8_0.gguf"), threads: 2 });
  for (let i = 0; i < 2; i++) await runBenchmark(engine, { promptTokens: 64, genTokens: 4, repetitions: 1, parallel: [] });
  assert.deepEqual(engine.stats().prefixCache, { lookedUpTokens: 0, hitTokens: 0, hitRate: 0, evictions: 0 });
  assert.equal(engine.batching.prefixCaching, true);
});
