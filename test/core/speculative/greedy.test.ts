import assert from "node:assert/strict";
import { test } from "node:test";
import { DRAFT_LIKELY_TOKENS, Engine } from "../../../core/engine.ts";
import type { SpeculativeOptions } from "../../../core/speculative/options.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";
import { greedyReferences } from "../../helpers/reference.ts";
import { native } from "../../../core/native.ts";

const prompts = greedyReferences().filter((r) => r.model === "stories15M-f32.gguf").map((r) => r.prompt);
const proposers: SpeculativeOptions[] = [{ mode: "draft", k: 6 }, { mode: "ngram", k: 4 }, { mode: "self", layers: 3, k: 4 }];

let engine: Engine | undefined;
async function loadEngine(): Promise<Engine> {
  engine ??= await Engine.load({
    model: sharedModel("stories15M-f32.gguf"), draftModel: sharedModel("stories15M-q4_0.gguf"), threads: 2, contextSize: 256,
  });
  return engine;
}

test("greedy speculative decoding gives plain greedy's tokens with every proposer, all prompts in one batch", { skip: noShared || prompts.length === 0 }, async () => {
  const e = await loadEngine();
  const plain = await Promise.all(prompts.map((p) => e.generate(p, { temperature: 0, maxTokens: 64 })));
  for (const speculative of proposers) {
    // A plain request decodes in the same steps as the speculating ones.
    const [mixed, ...spec] = await Promise.all([
      e.generate(prompts[0]!, { temperature: 0, maxTokens: 64 }),
      ...prompts.map((p) => e.generate(p, { temperature: 0, maxTokens: 64, speculative })),
    ]);
    assert.deepEqual(mixed!.tokens, plain[0]!.tokens);
    spec.forEach((r, i) => {
      assert.deepEqual(r.tokens, plain[i]!.tokens, `${speculative.mode}: ${prompts[i]}`);
      assert.equal(r.text, plain[i]!.text);
      assert.ok(r.stats.specTokensPerStep! >= 1, `${speculative.mode}: tokens per step ${r.stats.specTokensPerStep}`);
    });
    if (speculative.mode === "draft") {
      const rate = spec.reduce((a, r) => a + r.stats.specAcceptRate!, 0) / spec.length;
      assert.ok(rate > 0.5, `a q4_0 draft of the same model should mostly agree, accepted ${rate}`);
    }
  }
  assert.equal(e.stats().blocks.used, 0, "draft and target blocks all returned");
});

test("drafting over the learned draft vocabulary (reduced head) still gives plain greedy's tokens", { skip: noShared }, async () => {
  const e = await loadEngine();
  const prompt = "Once upon a time";
  const plain = await e.generate(prompt, { temperature: 0, maxTokens: 160 });
  // Drafting the same story again teaches the draft its vocabulary; new tokens then become rare enough to use it.
  for (let i = 0; i < 2; i++) await e.generate(prompt, { temperature: 0, maxTokens: 160, speculative: { mode: "draft" } });
  const reduced = await e.generate(prompt, { temperature: 0, maxTokens: 160, speculative: { mode: "draft" } });
  assert.ok(reduced.stats.specDraftHead! > 0, "the reduced head was in use");
  assert.ok(reduced.stats.specDraftHead! < e.model.hparams.nVocab / 3, `reduced head of ${reduced.stats.specDraftHead} tokens`);
  assert.deepEqual(reduced.tokens, plain.tokens);
  const full = await e.generate(prompt, { temperature: 0, maxTokens: 160, speculative: { mode: "draft", draftHead: "full" } });
  assert.equal(full.stats.specDraftHead, 0);
  assert.deepEqual(full.tokens, plain.tokens);
});

test("stop strings and the token limit apply per accepted token, in order", { skip: noShared }, async () => {
  const e = await loadEngine();
  const full = await e.generate("Once upon a time", { temperature: 0, maxTokens: 40 });
  for (const speculative of proposers) {
    for (const maxTokens of [1, 2, 7, 13]) {
      const r = await e.generate("Once upon a time", { temperature: 0, maxTokens, speculative });
      assert.deepEqual(r.tokens, full.tokens.slice(0, maxTokens), `${speculative.mode} maxTokens ${maxTokens}`);
      assert.equal(r.finishReason, "length");
    }
    const stopped = await e.generate("Once upon a time", { temperature: 0, maxTokens: 40, stop: ["Lily"], speculative });
    assert.equal(stopped.finishReason, "stop");
    assert.equal(stopped.text, full.text.slice(0, full.text.indexOf("Lily")));
  }
});

test("bad speculative options are refused with a clear error", { skip: noShared }, async () => {
  const e = await Engine.load({ model: sharedModel("stories260K.gguf"), threads: 2 });
  assert.throws(() => e.generate("Hi", { speculative: { mode: "draft" } }), /needs a draft model/);
  assert.throws(() => e.generate("Hi", { speculative: { mode: "self" } }), /layers must be/);
  assert.throws(() => e.generate("Hi", { speculative: { mode: "ngram", k: 0 } }), /k must be/);
  assert.throws(() => e.generate("Hi", { speculative: { mode: "x" as "ngram" } }), /mode must be/);
  await assert.rejects(Engine.load({ model: sharedModel("stories260K.gguf"), draftModel: sharedModel("stories15M-q8_0.gguf") }), /share a vocabulary/);
});

test("a draft model drafting on one thread or on all of them gives the same drafts and output", { skip: noShared }, async () => {
  // Fresh engines: the draft vocabulary a used engine has learned changes which head drafts.
  const load = (draftThreads: number) => Engine.load({
    model: sharedModel("stories15M-f32.gguf"), draftModel: sharedModel("stories15M-q4_0.gguf"), threads: 2, draftThreads, contextSize: 256,
  });
  const options = { temperature: 0, maxTokens: 48, speculative: { mode: "draft" as const, k: 4 } };
  const one = await (await load(1)).generate("The little dog", options);
  const two = await (await load(2)).generate("The little dog", options);
  assert.deepEqual(one.tokens, two.tokens);
  assert.equal(one.stats.specAcceptRate, two.stats.specAcceptRate, "the same drafts were accepted");
  await assert.rejects(Engine.load({ model: sharedModel("stories260K.gguf"), draftThreads: 0 }), /draftThreads must be/);
});

test("fresh engines' greedy verify steps take only each row's argmax from the forward, draft in the same native call, and keep plain's tokens at k 2, 4 and 8", { skip: noShared }, async () => {
  // What `generate --spec draft` meets in a fresh process: no text learned yet (an engine's draft vocabulary grows
  // across its requests), so the draft model drafts over the tokens it rates highest (likelyTokens), not its full
  // head; verify steps must get the forward's argmax shortcut as plain greedy steps do, not full logit rows.
  const plain = await (await loadEngine()).generate("Once upon a time", { temperature: 0, maxTokens: 64 });
  for (const k of [2, 4, 8]) {
    const e = await Engine.load({
      model: sharedModel("stories15M-f32.gguf"), draftModel: sharedModel("stories15M-q4_0.gguf"), threads: 2, contextSize: 256,
    });
    const forward = e.model.forward.bind(e.model);
    const verifies: boolean[] = [];
    let oneCall = 0;
    e.model.forward = (kv, batch) => {
      if (batch.logitRows.length > 1) verifies.push(batch.argmax !== undefined);
      // Greedy drafts are drafted in the verifying step's own native call.
      if (batch.draft) oneCall++;
      return forward(kv, batch);
    };
    const r = await e.generate("Once upon a time", { temperature: 0, maxTokens: 64, speculative: { mode: "draft", k } });
    assert.deepEqual(r.tokens, plain.tokens, `k ${k}`);
    assert.ok(r.stats.specDraftHead! >= DRAFT_LIKELY_TOKENS && r.stats.specDraftHead! < e.model.hparams.nVocab / 3,
      `k ${k}: drafted over the likely tokens' reduced head from the start (${r.stats.specDraftHead} tokens)`);
    assert.ok(verifies.length > 0 && verifies.every(Boolean), `k ${k}: ${verifies.length} verify steps, argmax in ${verifies.filter(Boolean).length}`);
    assert.ok(oneCall >= verifies.length, `k ${k}: ${verifies.length} verify steps, ${oneCall} drafted in the same call`);
  }
});

test("the next chain drafted in the gap after a step (draftAhead) gives the drafts the step would draft, through acceptances and rejections", { skip: noShared }, async () => {
  // Fresh engines with and without it: the same drafts mean the same accepted counts step by step, so the same
  // stats; a job fed at a wrong position or into wrong blocks, or from a wrong token, would change the drafts.
  const load = (draftAhead: boolean) => Engine.load({
    model: sharedModel("stories15M-f32.gguf"), draftModel: sharedModel("stories15M-q4_0.gguf"), threads: 2, contextSize: 256, draftAhead,
  });
  const [off, on] = [await load(false), await load(true)];
  const stats = (r: Awaited<ReturnType<Engine["generate"]>>) => [r.stats.specDrafted, r.stats.specAccepted, r.stats.specTokensPerStep];
  for (const prompt of ["Once upon a time", "The little dog"]) {
    const plain = await off.generate(prompt, { temperature: 0, maxTokens: 96 });
    for (const k of [2, 4, 8]) {
      const options = { temperature: 0, maxTokens: 96, speculative: { mode: "draft" as const, k } };
      const without = await off.generate(prompt, options);
      const before = native.aheadDraftStats!();
      const withAhead = await on.generate(prompt, options);
      const after = native.aheadDraftStats!();
      assert.deepEqual(withAhead.tokens, plain.tokens, `${prompt} k ${k}`);
      assert.deepEqual(stats(withAhead), stats(without), `${prompt} k ${k}: the same drafts, accepted the same`);
      assert.ok(withAhead.stats.specAcceptRate! < 1, `${prompt} k ${k}: some drafts were rejected`);
      // The steps after the first take their chain from the job the step before started, but those after the draft
      // vocabulary grew (setDraftHead drops the job; this engine's vocabulary keeps learning across requests).
      const steps = Math.round(withAhead.tokens.length / withAhead.stats.specTokensPerStep!);
      assert.ok(after.hits - before.hits >= steps / 2, `${prompt} k ${k}: ${after.hits - before.hits} chains drafted ahead of ${steps} steps`);
    }
  }
  // A job whose next step never comes (the sequence stopped) is not taken by another request's chain.
  const stopped = await on.generate("Once upon a time", { temperature: 0, maxTokens: 7, speculative: { mode: "draft", k: 4 } });
  const other = await on.generate("The little dog", { temperature: 0, maxTokens: 40, speculative: { mode: "draft", k: 4 } });
  assert.deepEqual(stopped.tokens, (await off.generate("Once upon a time", { temperature: 0, maxTokens: 7 })).tokens);
  assert.deepEqual(other.tokens, (await off.generate("The little dog", { temperature: 0, maxTokens: 40 })).tokens);
});
