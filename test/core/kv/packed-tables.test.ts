import { test } from "node:test";
import assert from "node:assert/strict";
import { packTables, packedLength } from "../../../core/kv/packed-tables.ts";

test("tables are laid end to end with each sequence's start and the end in offsets", () => {
  const { flat, offsets } = packTables([[4, 5], [], [7, 8, 9]]);
  assert.deepEqual([...flat], [4, 5, 7, 8, 9]);
  assert.deepEqual([...offsets], [0, 2, 2, 5]);
});

test("reused buffers larger than needed come back as views of the packed length", () => {
  const flat = new Int32Array(16).fill(-1), offsets = new Int32Array(8).fill(-1);
  const packed = packTables([[1], [2, 3]], flat, offsets);
  assert.equal(packed.flat.buffer, flat.buffer);
  assert.deepEqual([...packed.flat], [1, 2, 3]);
  assert.deepEqual([...packed.offsets], [0, 1, 3]);
  assert.equal(packedLength([[1], [2, 3], []]), 3);
});

test("no sequences: one offset, nothing packed", () => {
  const { flat, offsets } = packTables([]);
  assert.equal(flat.length, 0);
  assert.deepEqual([...offsets], [0]);
});
