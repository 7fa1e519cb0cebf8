import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine, type StepInfo } from "../../core/engine.ts";
import type { GenerationResult } from "../../core/generation.ts";
import { noShared, prng, sharedModel } from "../helpers/index.ts";

// Continuous batching, preemption, aborts and chunked prefill, on stories260K (the checks are about logic).
const MODEL = "stories260K.gguf";
const greedy = { temperature: 0, ignoreEos: true } as const;

/** Fails the test if any step leaves a running sequence with a whole unused block or more. */
function watchUnusedSlots(engine: Engine, blockSize: number): { steps: number; most: number; stop: () => void } {
  const w = { steps: 0, most: 0, stop: () => {} };
  w.stop = engine.onStep((s: StepInfo) => {
    w.steps++;
    w.most = Math.max(w.most, s.maxUnusedSlots);
    assert.ok(s.maxUnusedSlots < blockSize, `step ${s.step}: a sequence holds ${s.maxUnusedSlots} unused KV slots`);
  });
  return w;
}

test("500 requests, 30% aborted at random moments, pool too small: all end cleanly, preemptions counted, pool restored, never a whole unused block per sequence", { skip: noShared }, async () => {
  const blockSize = 16;
  // 256 positions of context and a near-zero budget: the pool is exactly 16 blocks, far too few for 32 sequences.
  const engine = await Engine.load({ model: sharedModel(MODEL), threads: 2, contextSize: 256, kvMemoryMiB: 0.001, kvBlockSize: blockSize });
  const initial = engine.stats().blocks;
  assert.equal(initial.total, 16);
  const watch = watchUnusedSlots(engine, blockSize);
  const rand = prng(2024);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const vocab = engine.model.hparams.nVocab;

  const requests = Array.from({ length: 500 }, (_, i) => {
    const prompt = Array.from({ length: int(1, 90) }, () => int(3, vocab - 1));
    const maxTokens = int(1, 24);
    const abort = rand() < 0.3 ? new AbortController() : undefined;
    const when = rand();
    return { i, prompt, maxTokens, abort, when };
  });

  const outcomes = await Promise.all(
    requests.map(async (r) => {
      if (r.abort && r.when < 0.1) r.abort.abort(); // before submission
      const stream = engine.stream(r.prompt, { ...greedy, maxTokens: r.maxTokens, signal: r.abort?.signal });
      if (r.abort && r.when >= 0.1 && r.when < 0.4) setTimeout(() => r.abort!.abort(), Math.floor(r.when * 300)); // by the clock
      let n = 0;
      for await (const _ of stream) {
        n++;
        if (r.abort && r.when >= 0.4 && n >= Math.ceil((r.when - 0.4) * 20)) r.abort.abort(); // after some tokens
      }
      return { r, result: await stream.result };
    }),
  );
  watch.stop();

  const reasons = new Map<string, number>();
  for (const { r, result } of outcomes) {
    reasons.set(result.finishReason, (reasons.get(result.finishReason) ?? 0) + 1);
    if (result.finishReason === "abort") assert.ok(r.abort, `request ${r.i} ended with abort but nobody aborted it`);
    else {
      assert.equal(result.finishReason, "length", `request ${r.i}`);
      assert.equal(result.tokens.length, r.maxTokens);
    }
  }
  const stats = engine.stats();
  console.log(`finish reasons ${JSON.stringify(Object.fromEntries(reasons))}; preemptions ${stats.preemptions}; steps ${watch.steps}; most unused slots ${watch.most}; prefix hit rate ${stats.prefixCache.hitRate.toFixed(3)}`);
  assert.ok((reasons.get("abort") ?? 0) >= 50, "a good share was aborted");
  assert.ok(stats.preemptions > 0, "the small pool forced preemptions");
  assert.equal(outcomes.reduce((a, o) => a + o.result.stats.preemptions, 0) >= 1, true);
  assert.equal(stats.waiting, 0);
  assert.equal(stats.running, 0);
  assert.equal(stats.blocks.used, 0);
  assert.equal(stats.blocks.free, initial.free, "every block is back (free or cached)");

  // Sequences that were preempted and recomputed (or took cached blocks) still produced the right tokens.
  const solo = await Engine.load({ model: sharedModel(MODEL), threads: 2, contextSize: 256, prefixCaching: false });
  const preempted = outcomes.filter((o) => o.result.finishReason === "length" && o.result.stats.preemptions > 0).slice(0, 15);
  assert.ok(preempted.length > 0);
  for (const o of preempted) {
    const alone = await solo.generate(o.r.prompt, { ...greedy, maxTokens: o.r.maxTokens });
    assert.deepEqual(o.result.tokens, alone.tokens, `request ${o.r.i} after ${o.result.stats.preemptions} preemptions`);
  }
});

test("while a 2,000-token prompt prefills in chunks, running decodes keep producing tokens", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel(MODEL), threads: 2, contextSize: 2200, maxBatchTokens: 256 });
  const watch = watchUnusedSlots(engine, 16);
  const vocab = engine.model.hparams.nVocab;
  const rand = prng(7);
  const times: number[][] = [[], [], [], []];
  const decodes = times.map((t, i) =>
    (async () => {
      for await (const _ of engine.stream([1, 100 + i], { ...greedy, maxTokens: 400 })) t.push(performance.now());
    })(),
  );
  while (times.some((t) => t.length < 5)) await new Promise((r) => setTimeout(r, 1));
  const longPrompt = Array.from({ length: 2000 }, () => 3 + Math.floor(rand() * (vocab - 3)));
  const submitted = performance.now();
  const long = await engine.generate(longPrompt, { ...greedy, maxTokens: 1 });
  const prefillEnd = submitted + long.stats.ttftMs;
  await Promise.all(decodes);
  watch.stop();

  const during = times.map((t) => t.filter((x) => x > submitted && x <= prefillEnd));
  let gap = 0;
  for (const t of times) for (let i = 1; i < t.length; i++) if (t[i]! > submitted && t[i - 1]! < prefillEnd) gap = Math.max(gap, t[i]! - t[i - 1]!);
  console.log(`prefill of 2000 tokens took ${long.stats.ttftMs.toFixed(1)} ms; decode tokens during it per sequence: ${during.map((d) => d.length).join(", ")}; largest inter-token gap ${gap.toFixed(1)} ms`);
  // 2000 tokens in chunks of at most 256 (less the decodes) take at least 8 steps; each step also decodes every running sequence.
  for (const d of during) assert.ok(d.length >= 7, `a decode produced only ${d.length} tokens during the prefill`);
});

test("configure() changes batching between steps; bad settings are refused with clear errors", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel(MODEL), threads: 2 });
  const seen: StepInfo[] = [];
  const stop = engine.onStep((s) => seen.push(s));
  engine.configure({ maxSeqs: 2 });
  const prompts = Array.from({ length: 6 }, (_, i) => [1, 50 + i]);
  const first = engine.generate(prompts[0]!, { ...greedy, maxTokens: 30 });
  await new Promise((r) => setTimeout(r, 0));
  const rest = prompts.slice(1).map((p) => engine.generate(p, { ...greedy, maxTokens: 30 }));
  while (seen.length < 5) await new Promise((r) => setTimeout(r, 1));
  engine.configure({ maxSeqs: 8 });
  const mark = seen.length;
  await Promise.all([first, ...rest]);
  stop();
  assert.ok(seen.slice(0, mark).every((s) => s.sequences <= 2), "at most 2 sequences per step before the change");
  assert.ok(seen.slice(mark + 1).some((s) => s.sequences > 2), "more than 2 sequences per step after it");
  assert.throws(() => engine.configure({ maxSeqs: 0 }), /maxSeqs must be an integer/);
  assert.throws(() => engine.configure({ prefixCaching: "yes" as unknown as boolean }), /prefixCaching must be true or false/);
  assert.equal(engine.batching.maxSeqs, 8);
  await assert.rejects(Engine.load({ model: sharedModel(MODEL), kvType: "q4" as never }), /kvType must be one of f16, f32, q8_0/);
  await assert.rejects(Engine.load({ model: sharedModel(MODEL), kvType: "q8_0" }), /multiple of 32/);
  await assert.rejects(Engine.load({ model: sharedModel(MODEL), arithmetic: "fast" as never }), /arithmetic must be one of prompt, token, batch, got fast/);
});

test("stats() reports blocks, queues, and the prefix cache", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel(MODEL), threads: 2 });
  const prompt = Array.from({ length: 40 }, (_, i) => 10 + i);
  const a: GenerationResult = await engine.generate(prompt, { ...greedy, maxTokens: 4 });
  const after = engine.stats();
  assert.equal(after.blocks.used, 0);
  assert.ok(after.blocks.cached >= 2, "the prompt's two full blocks stay cached");
  const b = await engine.generate(prompt, { ...greedy, maxTokens: 4 });
  const s = engine.stats();
  // Two full blocks and the first one's partial last block: the whole prompt but its last token (whose logits the
  // second request needs, so it is computed again).
  assert.equal(s.prefixCache.hitTokens, 39);
  assert.equal(b.stats.promptTokensCached, 39);
  assert.equal(s.prefixCache.lookedUpTokens, 80);
  assert.equal(s.prefixCache.hitRate, 39 / 80);
  assert.deepEqual(b.tokens, a.tokens);
  assert.ok(s.tokensGenerated === 8 && s.waiting === 0 && s.running === 0);
});

test("a prompt fully in the cache recomputes only its last token, into a copy of the shared block", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel(MODEL), threads: 2 });
  const prompt = Array.from({ length: 32 }, (_, i) => 20 + i); // exactly two blocks
  const a = await engine.generate(prompt, { ...greedy, maxTokens: 20 });
  const cachedBefore = engine.stats().blocks.cached;
  const [b, c] = await Promise.all([0, 1].map(() => engine.generate(prompt, { ...greedy, maxTokens: 20 })));
  const s = engine.stats();
  assert.equal(s.prefixCache.hitTokens, 31 * 2, "both found the whole prompt but recomputed its last token");
  assert.deepEqual(b!.tokens, a.tokens);
  assert.deepEqual(c!.tokens, a.tokens);
  assert.ok(s.blocks.cached >= cachedBefore, "the cached originals were not overwritten or dropped");
  const d = await engine.generate(prompt, { ...greedy, maxTokens: 20 });
  assert.deepEqual(d.tokens, a.tokens, "the cached blocks still hold the right K/V");
});

test("a context longer than the model's training context loads with a warning; one within it has none", { skip: noShared }, async () => {
  const trained = (await Engine.load({ model: sharedModel(MODEL), threads: 1 })).model.hparams.contextLength;
  const long = await Engine.load({ model: sharedModel(MODEL), threads: 1, contextSize: trained * 2 });
  assert.equal(long.warnings.length, 1);
  assert.match(long.warnings[0]!, new RegExp(`context size ${trained * 2} is longer than the ${trained} tokens the model was trained on`));
  assert.deepEqual((await Engine.load({ model: sharedModel(MODEL), threads: 1, contextSize: trained })).warnings, []);
});

test("logprobs: one record per generated token, the same text as without; refused with speculative decoding", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories260K.gguf"), threads: 1 });
  const plain = await engine.generate("Once upon a time", { temperature: 0, maxTokens: 8 });
  const r = await engine.generate("Once upon a time", { temperature: 0, maxTokens: 8, logprobs: 2 });
  assert.equal(r.text, plain.text);
  assert.equal(r.logprobs!.length, r.tokens.length);
  for (const [i, lp] of r.logprobs!.entries()) assert.equal(lp.top[0]!.token, r.tokens[i], "greedy draws the most likely token");
  const events = [];
  for await (const e of engine.stream("Once upon a time", { temperature: 0, maxTokens: 4, logprobs: 0 })) if (e.token >= 0) events.push(e);
  assert.ok(events.every((e) => e.logprob !== undefined && e.logprob.top.length === 0));
  assert.equal(plain.logprobs, undefined);
  assert.throws(() => engine.stream("x", { logprobs: 1, speculative: { mode: "ngram" } }), /logprobs cannot be combined with speculative decoding/);
  engine.close();
});
