import { test } from "node:test";
import assert from "node:assert/strict";
import { TriggerWatch } from "../../../../core/sampling/grammar/lazy.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

/** Pieces fed one by one; the text from the trigger once it fires (and at which piece). */
function feed(watch: TriggerWatch, pieces: string[]): { at: number; from: string } | undefined {
  for (const [i, p] of pieces.entries()) {
    const from = text(watch.push(bytes(p)));
    if (from !== undefined) return { at: i, from };
  }
  return undefined;
}

test("a trigger fires where it completes, across pieces, and the grammar starts at its first character", () => {
  assert.deepEqual(feed(new TriggerWatch({ texts: ["<tool_call>"] }, undefined), ["Sure ", "<tool", "_call>\n{", "x"]), { at: 2, from: "<tool_call>\n{" });
  assert.deepEqual(feed(new TriggerWatch({ texts: ["[TOOL_CALLS]", "<tool_call>"] }, undefined), ["a[TOOL_CALLS][{"]), { at: 0, from: "[TOOL_CALLS][{" });
  assert.equal(feed(new TriggerWatch({ texts: ["<tool_call>"] }, undefined), ["no call here", " <tool", " call>"]), undefined);
});

test("atStart: only at the start of the output (after whitespace)", () => {
  assert.deepEqual(feed(new TriggerWatch({ texts: ["{"], atStart: true }, undefined), ["\n ", " {\"name\""]), { at: 1, from: "{\"name\"" });
  assert.equal(feed(new TriggerWatch({ texts: ["{"], atStart: true }, undefined), ["The answer", " is {1}"]), undefined);
});

test("a think block never triggers: the search starts after it", () => {
  assert.deepEqual(feed(new TriggerWatch({ texts: ["<tool_call>"] }, "may-think"), ["<think>", "maybe <tool_call>?", "</think>\n\n", "<tool_call>"]), { at: 3, from: "<tool_call>" });
  assert.deepEqual(feed(new TriggerWatch({ texts: ["{"], atStart: true }, "thinking"), ["{ hmm", "</think>", "\n{"]), { at: 2, from: "{" });
  // Without a think block at the start, the output is searched from its start.
  assert.deepEqual(feed(new TriggerWatch({ texts: ["<tool_call>"] }, "may-think"), ["<", "tool_call>"]), { at: 1, from: "<tool_call>" });
});
