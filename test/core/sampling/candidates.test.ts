import { test } from "node:test";
import assert from "node:assert/strict";
import { CandidateSet } from "../../../core/sampling/candidates.ts";

/** Ten tokens whose logits descend with their id: token 0 is the best. */
function loaded(): CandidateSet {
  const set = new CandidateSet(10);
  set.loadTopK(Float32Array.from({ length: 10 }, (_, i) => 10 - i), 10);
  return set;
}

test("keepFirst keeps the first k accepted candidates in order", () => {
  const set = loaded();
  assert.equal(set.keepFirst(3, (id) => id % 2 === 1), "kept");
  assert.deepEqual([...set.ids.subarray(0, set.count)], [1, 3, 5]);
});

test("keepFirst says too-few when fewer than k are accepted, and gave-up when its caller stopped the look", () => {
  assert.equal(loaded().keepFirst(3, (id) => id === 4 || id === 7), "too-few");
  const looks: number[] = [];
  const result = loaded().keepFirst(3, () => false, (_kept, looked) => (looks.push(looked), looked === 2));
  assert.equal(result, "gave-up");
  assert.deepEqual(looks, [0, 1, 2]);
  // A look that cannot reach k any more ends as too-few before asking the caller.
  assert.equal(loaded().keepFirst(3, () => false, (_kept, looked) => looked === 9), "too-few");
});
