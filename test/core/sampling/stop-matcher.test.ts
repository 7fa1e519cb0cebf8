import { test } from "node:test";
import assert from "node:assert/strict";
import { StopMatcher } from "../../../core/sampling/index.ts";

/** Feeds pieces one by one; returns everything emitted (plus the flush if no stop) and whether it stopped. */
function run(stops: string[], pieces: string[]): { text: string; stopped: boolean; emitted: string[] } {
  const m = new StopMatcher(stops);
  const emitted: string[] = [];
  for (const piece of pieces) {
    const { emit, stopped } = m.push(piece);
    emitted.push(emit);
    if (stopped) return { text: emitted.join(""), stopped, emitted };
  }
  emitted.push(m.flush());
  return { text: emitted.join(""), stopped: false, emitted };
}

test("text without stop strings passes through unchanged, immediately when it cannot start a stop", () => {
  assert.deepEqual(run(["###"], ["Hello", " world"]).emitted, ["Hello", " world", ""]);
  assert.deepEqual(run([], ["a", "b"]).emitted, ["a", "b", ""]);
});

test("a stop inside one push cuts the text before it", () => {
  assert.deepEqual(run(["</s>"], ["Hi</s>more"]), { text: "Hi", stopped: true, emitted: ["Hi"] });
});

test("a stop spanning several pushes is detected and no part of it is emitted", () => {
  const r = run(["STOP"], ["abc S", "T", "O", "P tail"]);
  assert.deepEqual(r.emitted, ["abc ", "", "", ""]);
  assert.equal(r.stopped, true);
});

test("held text is released once it can no longer become a stop", () => {
  assert.deepEqual(run(["STOP"], ["abc ST", "AR"]).emitted, ["abc ", "STAR", ""]);
  // A held prefix that fails can still contain the start of a new match.
  assert.deepEqual(run(["abc"], ["ab", "ab", "c"]).emitted, ["", "ab", ""]);
});

test("overlapping prefixes: the earliest match wins and repeated prefixes are handled", () => {
  assert.equal(run(["aab"], ["a", "a", "a", "a", "b", "z"]).text, "aa");
  assert.equal(run(["abab"], ["aba", "bab"]).text, "");
  assert.equal(run(["xyz", "yz!"], ["wxy", "z!"]).text, "w");
  assert.equal(run(["yz!", "xyz"], ["wxy", "z!"]).text, "w");
});

test("multiple stop strings: the earliest in the text stops, whichever comes first in the list", () => {
  assert.equal(run(["\n\n", "User:"], ["Answer. User: hi\n\n"]).text, "Answer. ");
  assert.equal(run(["User:", "\n\n"], ["Answer.\n\nUser:"]).text, "Answer.");
  assert.equal(run(["User:", "Us"], ["Answer U", "s"]).text, "Answer ");
});

test("a partial stop string is never emitted, checked on every split of a text", () => {
  const text = "The end. <|im_end|> not shown";
  const stops = ["<|im_end|>", "<|endoftext|>"];
  for (let cut1 = 0; cut1 <= text.length; cut1++) {
    for (let cut2 = cut1; cut2 <= text.length; cut2 += 3) {
      const r = run(stops, [text.slice(0, cut1), text.slice(cut1, cut2), text.slice(cut2)]);
      assert.equal(r.text, "The end. ", `split at ${cut1}, ${cut2}`);
      assert.equal(r.stopped, true);
      for (const piece of r.emitted) assert.ok(!piece.includes("<"), `emitted a partial stop: ${JSON.stringify(piece)}`);
    }
  }
});

test("flush releases held text at the end; after a stop everything is swallowed", () => {
  const m = new StopMatcher(["END"]);
  assert.deepEqual(m.push("fin E"), { emit: "fin ", stopped: false });
  assert.deepEqual(m.push("N"), { emit: "", stopped: false });
  assert.equal(m.flush(), "EN");
  assert.equal(m.flush(), "");
  const s = new StopMatcher(["END"]);
  assert.deepEqual(s.push("xENDy"), { emit: "x", stopped: true });
  assert.deepEqual(s.push("more"), { emit: "", stopped: true });
  assert.equal(s.flush(), "");
});

test("bad stop lists are rejected clearly", () => {
  assert.throws(() => new StopMatcher([""]), /stop\[0\] must be a non-empty string/);
  assert.throws(() => new StopMatcher(["ok", 3 as unknown as string]), /stop\[1\] must be a non-empty string, got 3/);
  assert.throws(() => new StopMatcher("x" as unknown as string[]), /stop must be an array of strings/);
});
