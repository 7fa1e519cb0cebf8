import { test } from "node:test";
import assert from "node:assert/strict";
import { Xoshiro128 } from "../../../core/sampling/index.ts";
import { chiSquareTest } from "./statistics.ts";

test("nextDouble is uniform on [0, 1) (chi-square over 100 bins)", () => {
  const rng = new Xoshiro128(2024);
  const counts = new Float64Array(100);
  for (let i = 0; i < 100_000; i++) {
    const u = rng.nextDouble();
    assert.ok(u >= 0 && u < 1);
    counts[Math.floor(u * 100)]++;
  }
  const fit = chiSquareTest(counts, new Float64Array(100).fill(0.01));
  assert.ok(fit.pValue > 1e-3, `p = ${fit.pValue}`);
});

test("seeds: same seed same stream, nearby and large seeds give different streams", () => {
  const stream = (seed: number) => {
    const r = new Xoshiro128(seed);
    return Array.from({ length: 8 }, () => r.nextUint32());
  };
  assert.deepEqual(stream(1), stream(1));
  const seen = new Set([0, 1, 2, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, -1].map((s) => stream(s).join()));
  assert.equal(seen.size, 7);
  for (const v of stream(3)) assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
});
