import { test } from "node:test";
import assert from "node:assert/strict";
import { Sampler } from "../../../core/sampling/index.ts";
import { judgeDraft } from "../../../core/speculative/acceptance.ts";
import { drawFrom } from "../../../core/speculative/drafter.ts";
import { prng } from "../../helpers/synthetic-model.ts";
import { chiSquareTest } from "../sampling/statistics.ts";

const logits = Float32Array.of(2, 1, 0.5, 0, -1, -3);

test("rejection sampling emits tokens distributed as the target, whatever the draft distribution", () => {
  const target = new Sampler(6, { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 11 });
  const p = Float32Array.from(target.probabilities(logits.slice()));
  const drafts = [
    Float32Array.of(0.05, 0.05, 0.1, 0.2, 0.3, 0.3), // mostly wrong
    Float32Array.of(1, 0, 0, 0, 0, 0), // deterministic proposal of the argmax
    undefined, // deterministic proposal given as a token only (one-hot q)
  ];
  const rand = prng(5);
  for (const q of drafts) {
    const counts = new Array(6).fill(0);
    let rejected = 0;
    for (let i = 0; i < 20000; i++) {
      const x = q ? drawFrom(q, rand()) : 3;
      const j = judgeDraft(target, logits.slice(), x, q);
      if (!j.accepted) rejected++;
      counts[j.token]++;
    }
    const r = chiSquareTest(counts, p);
    assert.equal(r.impossibleDraws, 0);
    assert.ok(r.pValue > 1e-4, `p-value ${r.pValue} for q = ${q}`);
    assert.ok(rejected > 0);
  }
});

test("at temperature 0 the draft stands exactly when it is the argmax, else the argmax replaces it", () => {
  const greedy = new Sampler(6, { temperature: 0 });
  assert.deepEqual(judgeDraft(greedy, logits.slice(), 0), { accepted: true, token: 0 });
  assert.deepEqual(judgeDraft(greedy, logits.slice(), 2), { accepted: false, token: 0 });
  assert.deepEqual(judgeDraft(greedy, logits.slice(), 2, Float32Array.of(0, 0, 1, 0, 0, 0)), { accepted: false, token: 0 });
});
