import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Engine, type EngineOptions } from "../../core/engine.ts";
import { GgufValueType } from "../../core/gguf/index.ts";
import { promptRowArithmetic } from "../../core/model/row-arithmetic.ts";
import { noShared, prng } from "../helpers/index.ts";
import { writeSyntheticModel } from "../helpers/synthetic-model.ts";

// The sliding-window layers' own KV blocks (core/kv/window-blocks.ts): a gemma3-shaped file whose layers 0 and 2
// see 32 positions (layer 1 all). Every result is compared with the engine keeping every position of every layer
// (swaFullCache), which computes the same attention over the same K/V: they must agree bit for bit.
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-window-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const WINDOW = 32;
const file = path.join(dir, "gemma3-window32.gguf");
if (!noShared) {
  writeSyntheticModel(file, {
    architecture: "gemma3", nEmbd: 128, nLayer: 3, nHead: 2, nHeadKv: 1, headDim: 64, nFf: 256, seed: 7, ropeBase: 1000000,
    extraMetadata: [
      ["gemma3.attention.sliding_window", { type: GgufValueType.UINT32, value: WINDOW }],
      ["gemma3.attention.sliding_window_pattern", { type: GgufValueType.UINT32, value: 2 }],
      ["gemma3.rope.freq_base_swa", { type: GgufValueType.FLOAT32, value: 10000 }],
    ],
  });
}
const rand = prng(5);
const randomTokens = (n: number) => Array.from({ length: n }, () => 3 + Math.floor(rand() * 509));

async function withEngine<T>(options: Partial<EngineOptions>, run: (e: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.load({ model: file, threads: 2, contextSize: 1024, ...options });
  try {
    return await run(engine);
  } finally {
    engine.close();
  }
}

test("generating far past the window: the window layers hold ~window blocks, freed blocks go back, tokens equal the full cache's", { skip: noShared }, async () => {
  const prompt = [1, ...randomTokens(40)];
  const full = await withEngine({ swaFullCache: true }, (e) => e.generate(prompt, { temperature: 0.9, seed: 3, ignoreEos: true, maxTokens: 600 }));
  let peak = 0, steps = 0;
  const [ours, after, usedEnd, bytes] = await withEngine({}, async (e) => {
    assert.ok(e.window, "the window layers have blocks of their own");
    const bound = e.window.blocksPerSequence(1);
    e.onStep(() => {
      const used = e.stats().windowBlocks!.used;
      peak = Math.max(peak, used);
      if (++steps > 2) assert.ok(used <= bound, `step ${steps}: ${used} window blocks held, more than ${bound}`);
    });
    let lastBytes = 0;
    e.onStep(() => (lastBytes = e.stats().kvBytesUsed || lastBytes)); // the very last step ends the sequence: 0 held
    const r = await e.generate(prompt, { temperature: 0.9, seed: 3, ignoreEos: true, maxTokens: 600 });
    return [r, e.stats(), e.stats().windowBlocks!.used, lastBytes] as const;
  });
  assert.deepEqual(ours.tokens, full.tokens);
  // 640 positions: 40 main blocks, and the window's 32 positions in at most 3 blocks (+1 while a block fills).
  assert.ok(peak >= 2 && peak <= 4, `peak window blocks ${peak}`);
  assert.equal(usedEnd, 0, "a finished sequence holds no window blocks");
  assert.equal(after.windowBlocks!.free, after.windowBlocks!.total, "every window block is back in the pool");
  assert.equal(after.blocks.used, 0);
  // K/V held at the last step: 1 global layer x 640 positions + 2 window layers x <= 4 blocks, against 3 x 640.
  const perLayerToken = 2 * 64 * 2;
  assert.ok(bytes >= perLayerToken * (640 + 2 * 2 * 16) && bytes <= perLayerToken * (640 + 16 + 2 * 4 * 16), `${bytes} bytes held`);
  console.log(`K/V held after 640 positions: ${bytes} bytes (all layers would hold ${3 * perLayerToken * 640})`);
});

test("batch invariance: sequences decoded together (f16 and q8_0 K/V) give the tokens each gives alone with the full cache", { skip: noShared }, async () => {
  const prompts = [[1, ...randomTokens(20)], [1, ...randomTokens(70)], [1, ...randomTokens(5)], [1, ...randomTokens(20)]];
  prompts[3] = [...prompts[0]!]; // a repeated prompt (n > 1)
  for (const kvType of ["f16", "q8_0"] as const) {
    const alone: number[][] = [];
    for (const p of prompts) {
      alone.push((await withEngine({ swaFullCache: true, kvType }, (e) => e.generate(p, { temperature: 0, ignoreEos: true, maxTokens: 120 }))).tokens);
    }
    const together = await withEngine({ kvType, maxBatchTokens: 48 }, (e) =>
      Promise.all(prompts.map((p) => e.generate(p, { temperature: 0, ignoreEos: true, maxTokens: 120 }))));
    together.forEach((r, i) => assert.deepEqual(r.tokens, alone[i], `${kvType}: prompt ${i}`));
  }
});

test("logits of a long input in chunks (the window table advancing, batch-arithmetic tiles over freed blocks) equal the full cache's", { skip: noShared }, async () => {
  const tokens = [1, ...randomTokens(299)];
  for (const arithmetic of ["prompt", "batch"] as const) {
    const full = await withEngine({ swaFullCache: true, arithmetic, maxBatchTokens: 100 }, (e) => e.logits(tokens));
    const ours = await withEngine({ arithmetic, maxBatchTokens: 100 }, (e) => e.logits(tokens));
    let differ = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] !== full[i]) differ++;
    assert.equal(differ, 0, `${arithmetic}: ${differ} logits differ`);
  }
});

test("prefix cache: hits need the window's blocks; every hit gives the tokens of a fresh computation", { skip: noShared }, async () => {
  const prefix = [1, ...randomTokens(99)];
  const opts = { temperature: 0, ignoreEos: true, maxTokens: 40 };
  const fresh = (p: number[], promptArithmetic?: Uint8Array) => withEngine({ prefixCaching: false }, (e) => e.generate(p, { ...opts, promptArithmetic }));
  await withEngine({}, async (e) => {
    // A long first sequence: its window blocks before its last window are freed as it runs.
    const a = await e.generate(prefix, { ...opts, maxTokens: 200 });
    const cont = [...prefix, ...a.tokens, ...randomTokens(3)];
    // A continuation of everything it computed, with the arithmetic it was computed in (a chat's next turn), finds
    // the main blocks and its last window.
    const flags = Uint8Array.from([...promptRowArithmetic(100), ...new Uint8Array(200), ...promptRowArithmetic(3)]);
    const b = await e.generate(cont, { ...opts, promptArithmetic: flags });
    assert.equal(b.stats.promptTokensCached, 299);
    assert.deepEqual(b.tokens, (await fresh(cont, flags)).tokens);
    // Sharing only the first 50 tokens: the main blocks are cached, but the window blocks there were freed, so
    // nothing usable is found (the window's blocks must come with the hit) and all is computed.
    const early = [...prefix.slice(0, 50), ...randomTokens(30)];
    const c = await e.generate(early, { ...opts, maxTokens: 1 });
    assert.equal(c.stats.promptTokensCached, 0);
    // The same prompt again: the last window of the one before is cached with it (copied before it is written).
    const d = await e.generate(early, opts);
    assert.equal(d.stats.promptTokensCached, 79);
    const f = await fresh(early);
    assert.deepEqual(d.tokens, f.tokens);
    assert.equal(c.tokens[0], f.tokens[0]);
    assert.equal(e.stats().windowBlocks!.used, 0);
  });
});

test("preemption in a pool too small for every sequence at once: each sequence's tokens are its tokens alone", { skip: noShared }, async () => {
  const prompts = Array.from({ length: 4 }, () => [1, ...randomTokens(60)]);
  const opts = { temperature: 0, ignoreEos: true, maxTokens: 200 };
  const alone: number[][] = [];
  for (const p of prompts) alone.push((await withEngine({ swaFullCache: true }, (e) => e.generate(p, opts))).tokens);
  // The main pool holds one context (256 positions): four sequences of 260 positions cannot all stay.
  await withEngine({ contextSize: 256, kvMemoryMiB: 0.01 }, async (e) => {
    const results = await Promise.all(prompts.map((p) => e.generate(p, { ...opts, maxTokens: 190 })));
    results.forEach((r, i) => assert.deepEqual(r.tokens, alone[i]!.slice(0, 190), `prompt ${i}`));
    assert.ok(e.stats().preemptions > 0, "the pool was short");
    assert.equal(e.stats().windowBlocks!.used, 0);
  });
});

test("self-drafting writes the window layers' blocks through their table too: greedy tokens equal plain decoding's", { skip: noShared }, async () => {
  const prompt = [1, ...randomTokens(30)];
  const opts = { temperature: 0, ignoreEos: true, maxTokens: 150 };
  const plain = await withEngine({ swaFullCache: true }, (e) => e.generate(prompt, opts));
  const spec = await withEngine({}, (e) => e.generate(prompt, { ...opts, speculative: { mode: "self", layers: 1, k: 3 } }));
  assert.deepEqual(spec.tokens, plain.tokens);
});
