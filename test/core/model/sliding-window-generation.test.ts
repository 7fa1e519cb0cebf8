import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Engine } from "../../../core/engine.ts";
import { GgufValueType, type TypedValue } from "../../../core/gguf/index.ts";
import { llamaCppStepLogits, oracleArithmeticDiffers, rowRelativeError } from "../../helpers/llama-cpp.ts";
import { ourStepLogits } from "../../helpers/step-logits.ts";
import { noShared, prng } from "../../helpers/index.ts";
import { writeSyntheticModel } from "../../helpers/synthetic-model.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-swa-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const u32 = (value: number): TypedValue => ({ type: GgufValueType.UINT32, value });
const f32 = (value: number): TypedValue => ({ type: GgufValueType.FLOAT32, value });
const N = 1000;
// llama.cpp on one thread: with more, its decode of 512+ cached positions splits the KV range across threads (an
// arithmetic that depends on the thread count; on this loaded machine two spinning threads also took minutes, not
// seconds). With its full-size SWA cache: its default ring buffer of pad(window + 512, 256) cells wraps at position
// 768, and from there attends the window's positions in cell order (the wrapped ones first), which changes the
// last bits of the online softmax (measured: step 753 on).
const reference = { contextSize: 1280, threads: 1, swaFullCache: true };

// A gemma3-shaped file (256-wide heads, Q/K norms, post-norms) whose local layers see 64 positions: 1,000 tokens
// go ~15 windows past it.
test(`gemma3 with a 64-position window: ${N} tokens: logits and greedy tokens equal llama.cpp's`, { skip: noShared }, async (t) => {
  // Bits and greedy choices need llama.cpp in the arithmetic we reproduce; elsewhere the logits within 1e-3.
  const differs = await oracleArithmeticDiffers();
  if (differs) t.diagnostic(`bit-identity and greedy choices not checked: ${differs}`);
  const file = path.join(dir, "gemma3-window.gguf");
  writeSyntheticModel(file, {
    architecture: "gemma3", nEmbd: 256, nLayer: 3, nHead: 2, nHeadKv: 1, headDim: 256, nFf: 512, seed: 41, ropeBase: 1000000,
    extraMetadata: [
      ["gemma3.attention.sliding_window", u32(64)],
      ["gemma3.attention.sliding_window_pattern", u32(2)],
      ["gemma3.rope.freq_base_swa", f32(10000)],
    ],
  });
  const rand = prng(141);
  const prompt = [1, ...Array.from({ length: 15 }, () => 3 + Math.floor(rand() * 509))];

  // A random model's greedy text soon cycles, so the window's contents would too: first every logit along 1,000
  // random tokens, each fed alone after the prompt, must be llama.cpp's bit for bit.
  const forced = Array.from({ length: N }, () => 3 + Math.floor(rand() * 509));
  const theirs = await llamaCppStepLogits(file, prompt, forced, reference);
  const mine = await ourStepLogits(file, prompt, forced, { contextSize: 1280 });
  theirs.forEach((row, step) => {
    if (differs) return assert.ok(rowRelativeError(mine[step]!, row) < 1e-3, `step ${step}`);
    let differ = 0;
    for (const [id, v] of row) if (mine[step]![id] !== v) differ++;
    assert.equal(differ, 0, `step ${step}: ${differ} logits differ from llama.cpp's`);
  });

  // Then a greedy generation of 1,000 tokens: llama.cpp's argmax after each of our tokens is our next.
  // The local layers' K/V is in blocks of their own, freed as the window moves on: the stats show them at the
  // window (64 positions: 4 blocks of 16, a fifth while one fills) all along, the global layer's growing to the length.
  const engine = await Engine.load({ model: file, threads: 2, contextSize: 1100 });
  let ours: number[], mostWindowBlocks = 0, mostBlocks = 0;
  engine.onStep(() => {
    const s = engine.stats();
    mostWindowBlocks = Math.max(mostWindowBlocks, s.windowBlocks!.used);
    mostBlocks = Math.max(mostBlocks, s.blocks.used);
  });
  try {
    ours = (await engine.generate(prompt, { temperature: 0, ignoreEos: true, maxTokens: N })).tokens;
  } finally {
    engine.close();
  }
  assert.equal(ours.length, N);
  assert.equal(mostWindowBlocks, 5, "window blocks held at most");
  assert.equal(mostBlocks, Math.ceil((prompt.length + N - 1) / 16), "main blocks held at most (at the last step)");
  if (differs) return;
  const steps = await llamaCppStepLogits(file, prompt, ours.slice(0, N - 1), reference);
  steps.forEach((row, i) => {
    let best = -1, bestValue = -Infinity;
    for (const [id, v] of row) if (v > bestValue) (best = id), (bestValue = v);
    assert.equal(ours[i], best, `token ${i}: ours ${ours[i]}, llama.cpp's ${best}`);
  });
});
