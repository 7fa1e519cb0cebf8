import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine, type EngineOptions } from "../../core/engine.ts";
import { noShared, sharedModel } from "../helpers/index.ts";

// Continuous batching must not change a single token: every sequence's rows are computed independently of
// what else is in the step (matmul rows, attention per query), so 32 prompts run together, with prefix
// caching, or thrashing through a tiny pool give exactly what they give one at a time.
const MODEL = "stories15M-q8_0.gguf";
const STORY =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. " +
  "One day, she saw a big red ball under a tree. She ran to it and picked it up. The ball was shiny and new. " +
  "Lily wanted to share the ball with her friend Tom, so she looked for him everywhere. At last she found him by the pond.";
const words = STORY.split(" ");
// Mixed lengths (1 to ~90 tokens); many share long prefixes, a few do not.
const PROMPTS = Array.from({ length: 32 }, (_, i) =>
  i % 5 === 4 ? `Tom had a dog called ${["Max", "Rex", "Spot", "Bo", "Sam", "Fluffy", "Bear"][i % 7]}.` : words.slice(0, 1 + ((i * 7) % words.length)).join(" "),
);
const greedy = { temperature: 0, ignoreEos: true, maxTokens: 12 } as const;

async function runAll(engine: Engine): Promise<number[][]> {
  const watch = engine.onStep((s) => assert.ok(s.maxUnusedSlots < 16, `step ${s.step}: ${s.maxUnusedSlots} unused KV slots`));
  try {
    return (await Promise.all(PROMPTS.map((p) => engine.generate(p, greedy)))).map((r) => r.tokens);
  } finally {
    watch();
  }
}

test("32 mixed prompts, greedy: concurrent = one at a time, also with prefix caching and with preemption", { skip: noShared }, async () => {
  const base: EngineOptions = { model: sharedModel(MODEL), threads: 2, contextSize: 128, prefixCaching: false };
  const solo = await Engine.load(base);
  const expected: number[][] = [];
  for (const p of PROMPTS) expected.push((await solo.generate(p, greedy)).tokens);
  const lengths = PROMPTS.map((p) => solo.tokenize(p).length);
  assert.ok(Math.min(...lengths) <= 3 && Math.max(...lengths) >= 80, `prompt lengths ${Math.min(...lengths)}..${Math.max(...lengths)}`);

  const batched = await Engine.load(base);
  assert.deepEqual(await runAll(batched), expected, "concurrent, no prefix caching");

  batched.configure({ prefixCaching: true });
  assert.deepEqual(await runAll(batched), expected, "concurrent, prefix caching (first round)");
  assert.deepEqual(await runAll(batched), expected, "concurrent, prefix caching (second round: full-prompt hits)");
  const cache = batched.stats().prefixCache;
  assert.ok(cache.hitTokens > 1000, `prefix cache hits: ${cache.hitTokens} tokens`);

  // 128 positions of context and a near-zero budget: 8 blocks for 32 sequences of up to ~100 positions.
  const tiny = await Engine.load({ ...base, kvMemoryMiB: 0.001, prefixCaching: true });
  assert.equal(tiny.stats().blocks.total, 8);
  assert.deepEqual(await runAll(tiny), expected, "tiny pool: preemption by recompute, evictions, copy-on-write");
  const s = tiny.stats();
  console.log(`tiny pool: ${s.preemptions} preemptions, ${s.prefixCache.evictions} evictions, prefix hit rate ${s.prefixCache.hitRate.toFixed(3)}; batched: hit rate ${cache.hitRate.toFixed(3)}`);
  assert.ok(s.preemptions > 0, "the tiny pool forced preemptions");
  assert.equal(s.blocks.used, 0);
  assert.equal(s.blocks.free, 8);
});

test("float weights too: 8 prompts on stories15M-f32 give the same tokens together as one at a time", { skip: noShared }, async () => {
  const options: EngineOptions = { model: sharedModel("stories15M-f32.gguf"), threads: 2, contextSize: 128, prefixCaching: false };
  const prompts = PROMPTS.filter((_, i) => i % 4 === 1);
  const solo = await Engine.load(options);
  const expected: number[][] = [];
  for (const p of prompts) expected.push((await solo.generate(p, { ...greedy, maxTokens: 8 })).tokens);
  const batched = await Engine.load(options);
  const together = await Promise.all(prompts.map((p) => batched.generate(p, { ...greedy, maxTokens: 8 })));
  assert.deepEqual(together.map((r) => r.tokens), expected);
});

// "prompt" (the default) mixes in one step prompt rows in llama.cpp's batched Q4_K order and tiled attention with
// generated rows in its single-row ones; "batch" computes every row batched.
for (const arithmetic of ["prompt", "batch"] as const) {
  test(`${arithmetic} arithmetic, Q4_K: 8 prompts (some of 64+ tokens) give the same tokens together, with prefix caching, as one at a time`, { skip: noShared }, async () => {
    const options: EngineOptions = { model: sharedModel("stories15M-q4_k_m.gguf"), threads: 2, contextSize: 128, prefixCaching: false, arithmetic };
    const prompts = PROMPTS.filter((_, i) => i % 4 === 2);
    const solo = await Engine.load(options);
    assert.ok(prompts.some((p) => solo.tokenize(p).length >= 64), "a prompt long enough for llama.cpp's batched attention");
    const expected: number[][] = [];
    for (const p of prompts) expected.push((await solo.generate(p, greedy)).tokens);
    const batched = await Engine.load({ ...options, prefixCaching: true });
    for (const round of ["first", "second"]) {
      const together = await Promise.all(prompts.map((p) => batched.generate(p, greedy)));
      assert.deepEqual(together.map((r) => r.tokens), expected, `${round} round`);
    }
    assert.ok(batched.stats().prefixCache.hitTokens > 0);
  });
}
