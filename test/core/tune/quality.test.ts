import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Engine } from "../../../core/engine.ts";
import { QualityGuard } from "../../../core/tune/quality.ts";
import type { TunePoint } from "../../../core/tune/space.ts";
import { noShared, sharedDir, sharedModel } from "../../helpers/paths.ts";

const base: TunePoint = { threads: 2, maxSeqs: 32, maxBatchTokens: 512, maxWaitMs: 0, kvType: "f16", kvBlockSize: 16 };

test("the quality guard rejects an early exit whose perplexity rises beyond the bound, and passes one that never exits", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories15M-f32.gguf"), contextSize: 256 });
  const text = readFileSync(path.join(sharedDir, "reference/eval-stories.txt"), "utf8").slice(0, 3000);
  const guard = new QualityGuard(engine, text, 0.01);

  // Exits after layer 1..5 of 6 as soon as the top token is 30% likely: far from the full model's predictions.
  const eager = await guard.check({ ...base, earlyExit: [1, 2, 3, 4, 5].map((layer) => ({ layer, threshold: 0.3 })) });
  assert.ok(eager, "early exit changes outputs, so it is checked");
  assert.ok(eager.rise > 0.01, `perplexity rose ${(eager.rise * 100).toFixed(2)}%`);
  assert.equal(eager.ok, false);

  // A threshold of 1 is never reached: every token runs at full depth, so the perplexity is the reference's.
  const never = await guard.check({ ...base, earlyExit: [{ layer: 3, threshold: 1 }] });
  assert.ok(never);
  assert.equal(never.ppl, never.reference);
  assert.equal(never.ok, true);

  // The same bound, looser: the eager exit passes when the user allows its rise.
  const loose = new QualityGuard(engine, text, eager.rise + 0.001);
  assert.equal((await loose.check({ ...base, earlyExit: [1, 2, 3, 4, 5].map((layer) => ({ layer, threshold: 0.3 })) }))!.ok, true);

  // Settings that leave outputs unchanged are not scored.
  assert.equal(await guard.check({ ...base, threads: 1, kvBlockSize: 32, speculative: { mode: "ngram", k: 4 } }), undefined);
  engine.close();
});

test("the quality guard refuses a workload too short to judge, and a negative bound", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories260K.gguf"), contextSize: 64 });
  assert.throws(() => new QualityGuard(engine, "Hi", 0.01), /at least 16 tokens of workload text/);
  assert.throws(() => new QualityGuard(engine, "Once upon a time there was a little dog who liked to run in the park", -0.5), /bound must be a rise of 0 or more/);
  engine.close();
});
