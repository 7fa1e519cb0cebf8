import assert from "node:assert/strict";
import { test } from "node:test";
import { BlockManager } from "../../../core/kv/block-manager.ts";
import { WindowBlocks } from "../../../core/kv/window-blocks.ts";

const seq = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

test("a sequence advancing one position at a time holds its window's blocks, however long it gets", () => {
  const w = new WindowBlocks(new BlockManager(4, 4, () => {}), 6);
  const table: number[] = [];
  for (let computed = 0; computed < 200; computed++) {
    assert.ok(w.ensure(table, computed, computed + 1), `position ${computed}`);
    const live = table.filter((b) => b >= 0).length;
    assert.ok(live <= w.blocksPerSequence(1), `position ${computed}: ${live} blocks`);
    // The blocks the next token's window reads are all there.
    for (let p = Math.max(0, computed - 5); p <= computed; p++) assert.ok(table[Math.floor(p / 4)]! >= 0);
  }
  assert.equal(table.length, 50);
  assert.equal(w.blocks.usedBlocks, 2);
  w.blocks.release(table);
  assert.equal(w.blocks.freeBlocks, 4);
});

test("a prefix hit needs the blocks of its next token's window, else it shrinks to a block start (here to none)", () => {
  const bm = new BlockManager(16, 4, () => {});
  const w = new WindowBlocks(bm, 6);
  const tokens = seq(40);
  const a: number[] = [];
  w.ensure(a, 0, 30);
  bm.registerFull(tokens, a, [], 0, 7);
  w.ensure(a, 30, 30); // position 30's window starts at 25: blocks 0 .. 5 are dropped
  assert.deepEqual(a.slice(0, 6), [-1, -1, -1, -1, -1, -1]);
  bm.registerPartial(tokens, a, [], 30); // block 7 keeps positions 28, 29
  bm.release(a);
  const t: number[] = [];
  assert.equal(w.acquirePrefix(tokens, 30, [], t), 30);
  assert.equal(t.length, 8);
  bm.release(t);
  assert.equal(w.acquirePrefix(tokens, 29, [], t), 29, "the window from 29 starts at 24, in block 6");
  bm.release(t);
  assert.equal(w.acquirePrefix(tokens, 28, [], t), 0, "the window from 28 starts in block 5, which was dropped, and so on down");
  assert.deepEqual(t, []);
  assert.equal(bm.usedBlocks, 0);
});
