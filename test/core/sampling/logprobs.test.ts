import assert from "node:assert/strict";
import { test } from "node:test";
import { LogprobRecorder, tokenLogprob } from "../../../core/sampling/logprobs.ts";
import { Sampler } from "../../../core/sampling/sampler.ts";

test("tokenLogprob is the log-softmax of the raw row, with the top tokens most likely first", () => {
  const logits = Float32Array.of(1, 3, -2, 3, 0.5);
  const z = Math.log(logits.reduce((a, l) => a + Math.exp(l), 0));
  const r = tokenLogprob(logits, 4, 3);
  assert.ok(Math.abs(r.logprob - (0.5 - z)) < 1e-12);
  assert.deepEqual(r.top.map((t) => t.token), [1, 3, 0], "equal logits: the lower id first");
  for (const t of r.top) assert.ok(Math.abs(t.logprob - (logits[t.token]! - z)) < 1e-12);
  assert.deepEqual(tokenLogprob(logits, 1, 0).top, []);
});

test("the recorder reports the row before bias and penalties, and never lets the engine take the argmax", () => {
  const sampler = new Sampler(4, { temperature: 0, logitBias: { 0: 10 } });
  const recorder = new LogprobRecorder(sampler, 2);
  const row = Float32Array.of(2, 1, 0, 0);
  assert.equal(recorder.sample(row), 0);
  const z = Math.log(Math.exp(2) + Math.exp(1) + 2);
  assert.ok(Math.abs(recorder.last!.logprob - (2 - z)) < 1e-6);
  assert.equal(recorder.argmaxSuffices, false);
  assert.throws(() => new LogprobRecorder(sampler, 21), /logprobs must be an integer from 0 to 20/);
});
