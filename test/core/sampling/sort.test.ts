import { test } from "node:test";
import assert from "node:assert/strict";
import { sortIdsByKey } from "../../../core/sampling/sort.ts";
import { Xoshiro128 } from "../../../core/sampling/index.ts";

test("sortIdsByKey sorts a sub-range ascending by key, keeping a permutation, with heavy duplicates", () => {
  const rng = new Xoshiro128(3);
  for (const [n, distinctKeys] of [[0, 1], [1, 1], [17, 3], [1000, 5], [20_000, 20_000], [20_000, 2]]) {
    const key = new Float32Array(n).map(() => Math.floor(rng.nextDouble() * distinctKeys));
    const ids = Int32Array.from({ length: n }, (_, i) => n - 1 - i);
    const from = Math.floor(n / 4);
    const to = n - Math.floor(n / 8);
    const untouched = [...ids.slice(0, from), ...ids.slice(to)];
    sortIdsByKey(ids, from, to, key);
    for (let i = from + 1; i < to; i++) assert.ok(key[ids[i - 1]] <= key[ids[i]], `n=${n}: out of order at ${i}`);
    assert.deepEqual([...ids.slice(0, from), ...ids.slice(to)], untouched, "outside the range");
    assert.deepEqual([...ids].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), "not a permutation");
  }
});
