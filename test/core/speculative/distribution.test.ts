import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Engine } from "../../../core/engine.ts";
import { Sampler, type SamplingOptions } from "../../../core/sampling/index.ts";
import type { SpeculativeOptions } from "../../../core/speculative/options.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";
import { writePerturbedModel } from "../../helpers/perturbed-model.ts";
import { chiSquareTest } from "../sampling/statistics.ts";

const PROMPT = "Once upon a time, there was a";
const SAMPLING: SamplingOptions = { temperature: 0.8 }; // with the default top-k 40, top-p 0.95, min-p 0.05
const TRIALS = 2000;

/**
 * The exact joint distribution of generated tokens 2 and 3 (the first two that speculation drafts: token 1 comes
 * from the prefill step) under the target's sampler, summed over token 1: p(t2, t3) = sum p(t1) p(t2|t1) p(t3|t1,t2).
 */
async function exactJoint(engine: Engine, prompt: number[]): Promise<Map<string, number>> {
  const vocab = engine.model.hparams.nVocab;
  const dist = (row: Float32Array) => Float32Array.from(new Sampler(vocab, SAMPLING).probabilities(row.slice()));
  const support = (p: Float32Array) => [...p.keys()].filter((t) => p[t]! > 0);
  const last = async (tokens: number[], back = 0) => {
    const all = await engine.logits(tokens);
    return all.subarray((tokens.length - 1 - back) * vocab, (tokens.length - back) * vocab);
  };
  const joint = new Map<string, number>();
  const p1 = dist(await last(prompt));
  for (const t1 of support(p1)) {
    const p2 = dist(await last([...prompt, t1]));
    for (const t2 of support(p2)) {
      const p3 = dist(await last([...prompt, t1, t2]));
      for (const t3 of support(p3)) {
        const key = `${t2},${t3}`;
        joint.set(key, (joint.get(key) ?? 0) + p1[t1]! * p2[t2]! * p3[t3]!);
      }
    }
  }
  return joint;
}

test("speculative sampling keeps the target's distribution (chi-square on tokens 2-3, rejected drafts exercised)", { skip: noShared, timeout: 600_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "spec-dist-"));
  try {
    const draft = path.join(dir, "stories260K-noisy.gguf");
    writePerturbedModel(sharedModel("stories260K.gguf"), draft, 0.15);
    const engine = await Engine.load({ model: sharedModel("stories260K.gguf"), draftModel: draft, threads: 2, maxSeqs: 64, contextSize: 64 });
    const prompt = Array.from(engine.tokenize(PROMPT));
    const expected = await exactJoint(engine, prompt);
    const keys = [...expected.keys()];
    const probabilities = [...keys.map((k) => expected.get(k)!), 0];

    const modes: SpeculativeOptions[] = [{ mode: "draft", k: 2 }, { mode: "self", layers: 4, k: 2 }];
    for (const speculative of modes) {
      const counts = new Array(keys.length + 1).fill(0);
      let drafted = 0, accepted = 0;
      const runs = await Promise.all(Array.from({ length: TRIALS }, (_, seed) =>
        engine.generate(prompt, { ...SAMPLING, seed, maxTokens: 3, ignoreEos: true, speculative })));
      for (const r of runs) {
        const i = keys.indexOf(`${r.tokens[1]},${r.tokens[2]}`);
        counts[i < 0 ? keys.length : i]++;
        drafted += r.stats.specDrafted!;
        accepted += r.stats.specAccepted!;
      }
      const fit = chiSquareTest(counts, probabilities);
      assert.equal(fit.impossibleDraws, 0, `${speculative.mode}: drew pairs the target cannot produce`);
      assert.ok(fit.pValue > 1e-3, `${speculative.mode}: p-value ${fit.pValue} (dof ${fit.dof})`);
      // Both branches of the acceptance test must have been taken a fair number of times.
      assert.ok(drafted >= TRIALS && accepted >= 50 && drafted - accepted >= 50, `${speculative.mode}: ${accepted}/${drafted} drafts accepted`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
