import assert from "node:assert/strict";
import { test } from "node:test";
import { BlockManager } from "../../../core/kv/block-manager.ts";

function manager(nBlocks: number, blockSize = 4) {
  const copies: [number, number][] = [];
  return { bm: new BlockManager(nBlocks, blockSize, (src, dst) => copies.push([src, dst])), copies };
}

const seq = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

/** A table holding room for nTokens positions of `tokens`, its first nFull blocks registered as cached prefix. */
function registered(bm: BlockManager, tokens: readonly number[], nFull: number, nTokens = tokens.length): number[] {
  const table: number[] = [];
  assert.ok(bm.ensureCapacity(table, nTokens));
  bm.registerFull(tokens, table, [], 0, nFull);
  return table;
}

test("allocation grows a table block by block and refuses, unchanged, when the pool is short", () => {
  const { bm } = manager(3);
  const t: number[] = [];
  assert.ok(bm.ensureCapacity(t, 5));
  assert.equal(t.length, 2);
  assert.ok(!bm.ensureCapacity(t, 13));
  assert.equal(t.length, 2);
  assert.equal(bm.freeBlocks, 1);
  bm.release(t);
  assert.equal(bm.freeBlocks, 3);
  assert.equal(t.length, 0);
});

test("a released full block is found again by the same prefix, and only by the same whole prefix", () => {
  const { bm } = manager(8);
  const tokens = seq(10);
  const a = registered(bm, tokens, 2);
  const held = [...a];
  bm.release(a);
  assert.equal(bm.cachedBlocks, 2);
  assert.equal(bm.freeBlocks, 8);

  const b: number[] = [];
  assert.equal(bm.acquirePrefix(tokens, 10, [], b).tokens, 8);
  assert.deepEqual(b, held.slice(0, 2));
  assert.equal(bm.cachedBlocks, 0);
  assert.equal(bm.usedBlocks, 2);
  bm.release(b);

  // Same second block, different first block: the chained key misses at block 0 and so at block 1.
  const other = [99, ...tokens.slice(1)];
  const c: number[] = [];
  assert.equal(bm.acquirePrefix(other, 10, [], c).tokens, 0);
  // Same first block, different second: one block hits.
  const d: number[] = [];
  assert.equal(bm.acquirePrefix([...tokens.slice(0, 4), 77, ...tokens.slice(5)], 10, [], d).tokens, 4);
  bm.release(d);
});

test("shared blocks are reference-counted: freed only when the last holder releases them", () => {
  const { bm } = manager(4);
  const tokens = seq(8);
  const a = registered(bm, tokens, 2);
  const b: number[] = [];
  assert.equal(bm.acquirePrefix(tokens, 8, [], b).tokens, 8);
  assert.deepEqual(b, a);
  assert.equal(bm.usedBlocks, 2);
  bm.release(a);
  assert.equal(bm.usedBlocks, 2, "b still holds both");
  bm.release(b);
  assert.equal(bm.usedBlocks, 0);
  assert.equal(bm.cachedBlocks, 2);
});

test("copy-on-write: writing into a shared or cached block copies it first", () => {
  const { bm, copies } = manager(4);
  const tokens = seq(8);
  const a = registered(bm, tokens, 2);
  const b: number[] = [];
  bm.acquirePrefix(tokens, 8, [], b);
  assert.ok(bm.makeWritable(b, 7));
  assert.equal(copies.length, 1);
  assert.deepEqual(copies[0], [a[1], b[1]]);
  assert.notEqual(b[1], a[1]);
  assert.equal(b[0], a[0]);
  // A private, unregistered block is written in place.
  assert.ok(bm.makeWritable(b, 7));
  assert.equal(copies.length, 1);
  bm.release(a);
  bm.release(b);
  assert.equal(bm.freeBlocks, 4);
});

test("when no plain free block is left, the least recently released cached block is evicted", () => {
  const { bm } = manager(2, 2);
  const x = [1, 2], y = [3, 4];
  const tx = registered(bm, x, 1), ty = registered(bm, y, 1);
  bm.release(tx); // older
  bm.release(ty);
  const t: number[] = [];
  bm.ensureCapacity(t, 2);
  assert.equal(bm.evictions, 1);
  assert.equal(bm.acquirePrefix(x, 2, [], []).tokens, 0, "x was evicted");
  const again: number[] = [];
  assert.equal(bm.acquirePrefix(y, 2, [], again).tokens, 2, "y is still cached");
  bm.release(again);
  bm.release(t);
  assert.equal(bm.freeBlocks, 2);
});

test("a second block with a key already cached stays private and goes back to the plain free list", () => {
  const { bm } = manager(4);
  const tokens = seq(4);
  const a: number[] = [], b: number[] = [];
  bm.ensureCapacity(a, 4);
  bm.ensureCapacity(b, 4);
  bm.registerFull(tokens, a, [], 0, 1);
  bm.registerFull(tokens, b, [], 0, 1);
  bm.release(a);
  bm.release(b);
  assert.equal(bm.cachedBlocks, 1);
  assert.equal(bm.freeBlocks, 4);
});

test("a released sequence's partial last block serves a sequence that continues its tokens, copied before writing", () => {
  const { bm, copies } = manager(8);
  const tokens = seq(10);
  const a = registered(bm, tokens, 2);
  bm.registerPartial(tokens, a, [], 10);
  const held = [...a];
  bm.release(a);
  assert.equal(bm.cachedBlocks, 3);

  // The next turn: the same 10 tokens, then new ones. All 10 are found; the partial block is copied when written.
  const next = [...tokens, 50, 51, 52];
  const b: number[] = [];
  assert.deepEqual(bm.acquirePrefix(next, next.length, [], b), { tokens: 10, fullBlocks: 2 });
  assert.deepEqual(b, held);
  assert.ok(bm.makeWritable(b, 10));
  assert.deepEqual(copies, [[held[2], b[2]]]);
  bm.release(b);

  // A branch that differs inside a block reuses the block's common part (here 1 token of the partial block).
  const branch = [...tokens.slice(0, 9), 77, 78];
  assert.equal(bm.acquirePrefix(branch, branch.length, [], []).tokens, 9);
  // A full cached block serves a partial match too.
  const inside = [...tokens.slice(0, 6), 99];
  const c: number[] = [];
  assert.deepEqual(bm.acquirePrefix(inside, inside.length, [], c), { tokens: 6, fullBlocks: 1 });
  assert.deepEqual(c, held.slice(0, 2));
});

test("a partial block is kept once per content, and evicting it forgets it", () => {
  const { bm } = manager(2, 4);
  const tokens = seq(3);
  const a: number[] = [], b: number[] = [];
  bm.ensureCapacity(a, 3);
  bm.ensureCapacity(b, 3);
  bm.registerPartial(tokens, a, [], 3);
  bm.registerPartial(tokens, b, [], 3);
  bm.release(a);
  bm.release(b);
  assert.equal(bm.cachedBlocks, 1, "the second copy of the same tokens went back to the free list");
  const t: number[] = [];
  bm.ensureCapacity(t, 8);
  assert.equal(bm.evictions, 1);
  assert.equal(bm.acquirePrefix(tokens, 3, [], []).tokens, 0);
  bm.release(t);
  // A block shared with another holder, or already keyed, is never registered as partial.
  const c: number[] = [];
  bm.ensureCapacity(c, 4);
  bm.registerFull(seq(4), c, [], 0, 1);
  bm.registerPartial(seq(4), c, [], 3);
  bm.release(c);
  assert.equal(bm.acquirePrefix(seq(4), 4, [], []).tokens, 4);
});

test("dropBefore frees a window table's leading blocks (entries -1), forgetting cached ones, and keeps shared ones for their other holders", () => {
  const { bm } = manager(6);
  const tokens = seq(16);
  const a = registered(bm, tokens, 4);
  const b: number[] = [];
  assert.equal(bm.acquirePrefix(tokens, 8, [], b).tokens, 8); // b shares blocks 0 and 1
  const held = [...a];
  bm.dropBefore(a, 3);
  assert.deepEqual(a, [-1, -1, -1, held[3]]);
  assert.equal(bm.usedBlocks, 3, "blocks 0 and 1 stay with b, block 2 is free");
  assert.equal(bm.cachedBlocks, 0, "a dropped block is not kept as a cached prefix");
  bm.dropBefore(a, 2); // already dropped: nothing changes
  assert.equal(bm.usedBlocks, 3);
  bm.release(a);
  bm.release(b);
  assert.equal(bm.freeBlocks, 6);
  assert.equal(bm.cachedBlocks, 3, "blocks released normally (b's two, a's last) stay cached");
  // Block 2's key was forgotten: a lookup of the whole prefix stops before it.
  const c: number[] = [];
  assert.equal(bm.acquirePrefix(tokens, 16, [], c).tokens, 8);
});

test("acquireRange takes the cached blocks of a range (-1 before it), or names the highest block missing", () => {
  const { bm } = manager(8);
  const tokens = seq(20);
  const a = registered(bm, tokens, 4, 18);
  bm.registerPartial(tokens, a, [], 18); // block 4 holds tokens 16, 17
  const held = [...a];
  bm.dropBefore(a, 2);
  bm.release(a);
  const t: number[] = [];
  assert.equal(bm.acquireRange(tokens, 2, 18, [], t), -1);
  assert.deepEqual(t, [-1, -1, held[2], held[3], held[4]]);
  bm.release(t);
  assert.equal(bm.acquireRange(tokens, 2, 17, [], t), -1, "a block whose first tokens match serves a shorter end");
  bm.release(t);
  assert.equal(bm.acquireRange(tokens, 2, 19, [], t), 4, "the partial block holds 2 tokens, not 3");
  assert.equal(bm.acquireRange(tokens, 1, 12, [], t), 1, "block 1 was dropped");
  assert.deepEqual(t, []);
});
