import assert from "node:assert/strict";
import { test } from "node:test";
import { DraftVocabulary } from "../../../core/speculative/draft-vocabulary.ts";

test("the draft vocabulary collects distinct tokens and reports each growth once", () => {
  const v = new DraftVocabulary(100, 4, 1);
  v.observe([5, 5, 7]);
  assert.equal(v.active, false, "below its minimum size");
  assert.equal(v.takeUpdate(), undefined);
  v.observe([7, 9, 11, 99, 100, -1]); // out-of-vocabulary ids are ignored
  assert.equal(v.active, true);
  assert.deepEqual(Array.from(v.takeUpdate()!), [5, 7, 9, 11, 99]);
  assert.equal(v.takeUpdate(), undefined, "no new tokens, no update");
  v.observe([5, 42]);
  assert.deepEqual(Array.from(v.takeUpdate()!), [5, 7, 9, 11, 99, 42]);
});

test("the reduced head waits while most tokens are new, and turns on once the text repeats its tokens", () => {
  const v = new DraftVocabulary(1000, 4, 0.1);
  v.observe(Array.from({ length: 200 }, (_, i) => i)); // every token new
  assert.equal(v.active, false);
  const repeats = Array.from({ length: 200 }, (_, i) => i % 50);
  v.observe(repeats);
  assert.equal(v.active, true);
  v.observe(Array.from({ length: 100 }, (_, i) => 500 + i)); // a burst of new words
  assert.equal(v.active, false);
});

test("a prior seeds the vocabulary and turns the reduced head on before any text; text then adds to it", () => {
  const v = new DraftVocabulary(1000, 4, 0.1);
  v.seed([3, 1, 3, 2000, -5, 8, 4]); // duplicates and out-of-vocabulary ids are ignored
  assert.equal(v.active, true, "a prior stands for the text's tokens: no cold start");
  assert.deepEqual(Array.from(v.takeUpdate()!), [3, 1, 8, 4]);
  v.observe([1, 9]);
  assert.deepEqual(Array.from(v.takeUpdate()!), [3, 1, 8, 4, 9]);
  const unseeded = new DraftVocabulary(1000, 4, 0.1);
  unseeded.seed([]);
  assert.equal(unseeded.active, false, "an empty prior changes nothing");
});
