import { test } from "node:test";
import assert from "node:assert/strict";
import { ngramPropose } from "../../../core/speculative/ngram.ts";

test("proposes what followed the most recent earlier occurrence of the longest matching suffix", () => {
  //              0  1  2  3  4  5  6  7  8  9
  const tokens = [1, 2, 3, 4, 5, 9, 2, 3, 7, 2, 3];
  // Suffix [2, 3] occurred at 1..2 (then 4, 5) and at 6..7 (then 7, 2): the most recent wins.
  assert.deepEqual(ngramPropose(tokens, 3), [7, 2, 3]);
  // A longer match beats a more recent shorter one.
  assert.deepEqual(ngramPropose([5, 6, 7, 1, 7, 8, 5, 6, 7], 2), [1, 7]);
});

test("stops at k tokens and at the end of the sequence; nothing when no suffix repeats", () => {
  assert.deepEqual(ngramPropose([1, 2, 3, 1, 2, 3, 1], 10), [2, 3, 1]);
  assert.deepEqual(ngramPropose([1, 2, 3, 1], 1, 4, 1), [2]);
  assert.deepEqual(ngramPropose([1, 2, 3, 4], 4), []);
  assert.deepEqual(ngramPropose([], 4), []);
  assert.deepEqual(ngramPropose([7], 4), []);
});

test("a one-token match proposes nothing unless asked for (it predicts too little to pay for a verify)", () => {
  assert.deepEqual(ngramPropose([1, 2, 3, 1], 4), []);
  assert.deepEqual(ngramPropose([1, 2, 3, 1], 4, 4, 1), [2, 3, 1]);
});
