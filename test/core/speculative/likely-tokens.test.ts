import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine } from "../../../core/engine.ts";
import { likelyTokens } from "../../../core/speculative/likely-tokens.ts";
import type { DraftModel } from "../../../core/speculative/speculator.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

// likelyTokens ranks tokens by the draft model's own mean logit over its greedy text from BOS: no request's text.
// The ranking must cover what the target writes for prompts it never saw (else drafts miss), be the same every
// load (a fresh process must behave as the last one did), and hand the draft KV blocks back.
test("the draft model's likely tokens cover the target's greedy text and are the same every time", { skip: noShared }, async () => {
  const e = await Engine.load({
    model: sharedModel("stories15M-f32.gguf"), draftModel: sharedModel("stories15M-q4_0.gguf"), threads: 2, contextSize: 256,
  });
  const draft = (e as unknown as { draft: DraftModel }).draft;
  const free = draft.blocks.freeBlocks;
  const likely = await likelyTokens(draft, 8192);
  assert.equal(draft.blocks.freeBlocks, free, "its K/V blocks are returned");
  assert.equal(new Set(likely).size, 8192, "8192 distinct tokens");
  assert.deepEqual(likely, await likelyTokens(draft, 8192), "the same tokens every time");
  assert.deepEqual(Array.from(likely), Array.from(draft.likely!), "the engine's draft starts from them");
  const known = new Set(likely);
  let missed = 0, total = 0;
  for (const prompt of ["Tom and Lily went", "The sun was hot", "Ben liked to build"]) {
    const r = await e.generate(prompt, { temperature: 0, maxTokens: 100 });
    for (const t of e.tokenize(prompt)) known.add(t);
    for (const t of r.tokens) {
      total++;
      if (!known.has(t)) missed++;
      known.add(t);
    }
  }
  assert.ok(missed <= total / 50, `${missed} of ${total} tokens were neither likely nor seen before`);
  const all = await likelyTokens(draft, 40000);
  assert.equal(all.length, 32000, "asking for the whole vocabulary gives it");
});
