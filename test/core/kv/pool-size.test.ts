import assert from "node:assert/strict";
import { test } from "node:test";
import { kvPoolSizes } from "../../../core/kv/pool-size.ts";

// Gemma-3-1B's shape: 4 global and 22 sliding-window layers of one 256-wide KV head (f16: 1 KiB a layer and position).
const gemma = {
  budgetBytes: 256 * 2 ** 20, blockSize: 16, contextSize: 4096, window: 512, maxSeqs: 32, maxBatchTokens: 512,
  globalBytesPerToken: 4 * 1024, windowBytesPerToken: 22 * 1024,
};

test("without window layers kept apart: the budget's blocks, at least one context", () => {
  assert.deepEqual(kvPoolSizes({ ...gemma, globalBytesPerToken: 26 * 1024, windowBytesPerToken: 0 }), { nBlocks: 630, nWindowBlocks: 0 });
  assert.deepEqual(kvPoolSizes({ ...gemma, budgetBytes: 1, windowBytesPerToken: 0 }).nBlocks, 256);
});

test("window layers kept apart: the budget split as one context-long sequence uses it, within it", () => {
  const { nBlocks, nWindowBlocks } = kvPoolSizes(gemma);
  const bytes = nBlocks * 16 * gemma.globalBytesPerToken + nWindowBlocks * 16 * gemma.windowBytesPerToken;
  assert.ok(bytes <= gemma.budgetBytes);
  // Before: 630 blocks of all layers, 2.5 sequences of 4096 positions. Now the main pool holds 6+ and the window
  // pool the windows of 6+ sequences in prefill (65 blocks each).
  assert.ok(nBlocks >= 6 * 256, `${nBlocks} main blocks`);
  assert.ok(nWindowBlocks >= 6 * 65, `${nWindowBlocks} window blocks`);
});

test("the window pool is never smaller than one sequence's window and chunk, nor larger than every sequence's", () => {
  assert.equal(kvPoolSizes({ ...gemma, budgetBytes: 1 }).nWindowBlocks, 65);
  assert.equal(kvPoolSizes({ ...gemma, budgetBytes: 2 ** 40 }).nWindowBlocks, 32 * 34 + 33);
});
