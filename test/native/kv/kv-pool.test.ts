import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { GgufValueType } from "../../../core/gguf/index.ts";
import { Model } from "../../../core/model/model.ts";
import { native, type NativeKvCache } from "../../../core/native.ts";
import { noShared } from "../../helpers/index.ts";
import { writeSyntheticModel } from "../../helpers/synthetic-model.ts";

// A KV pool whose sliding-window layers have blocks of their own (native/kv/kv_pool.h, group 1): the layers find
// them through the batch's window tables, where blocks before every token's window may be -1 (dropped).
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-kvpool-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, "gemma3.gguf");
const WINDOW = 16, BS = 4;
if (!noShared) {
  writeSyntheticModel(file, {
    architecture: "gemma3", nEmbd: 64, nLayer: 3, nHead: 2, nHeadKv: 1, headDim: 32, nFf: 128, seed: 9,
    extraMetadata: [
      ["gemma3.attention.sliding_window", { type: GgufValueType.UINT32, value: WINDOW }],
      ["gemma3.attention.sliding_window_pattern", { type: GgufValueType.UINT32, value: 2 }],
    ],
  });
}

const N = 70; // positions: the last token's window starts at 54, in block 13
const tokens = Int32Array.from({ length: N }, (_, i) => 3 + ((i * 131) % 500));

/** Prefills tokens [0, N - 1) in one step, then feeds the last one alone with `window` as its window table. */
async function lastLogits(model: Model, kv: NativeKvCache, window: Int32Array | undefined, rowArithmetic?: number): Promise<Float32Array> {
  const blocks = Math.ceil(N / BS);
  const blockTables = Int32Array.from({ length: blocks }, (_, i) => i);
  const full = window ? Int32Array.from({ length: blocks }, (_, i) => i) : undefined;
  const tables = (w?: Int32Array) => ({ blockTables, tableOffsets: Int32Array.of(0, blocks), ...(w ? { windowBlockTables: w, windowTableOffsets: Int32Array.of(0, w.length) } : {}) });
  await model.forward(kv, {
    tokens: tokens.subarray(0, N - 1), positions: Int32Array.from({ length: N - 1 }, (_, i) => i), seqIds: new Int32Array(N - 1),
    ...tables(full), logitRows: new Int32Array(0), logits: new Float32Array(0),
  });
  const logits = new Float32Array(model.hparams.nVocab);
  await model.forward(kv, {
    tokens: tokens.subarray(N - 1), positions: Int32Array.of(N - 1), seqIds: Int32Array.of(0), ...tables(window),
    logitRows: Int32Array.of(0), logits, ...(rowArithmetic !== undefined ? { rowArithmetic: Uint8Array.of(rowArithmetic) } : {}),
  });
  return logits;
}

test("window layers read their own blocks: dropped blocks before the window change no logit (lone-token and batch arithmetic)", { skip: noShared }, async () => {
  const model = Model.load(file);
  const blocks = Math.ceil(N / BS);
  for (const flags of [undefined, 7]) {
    const reference = await lastLogits(model, model.createKvCache(blocks, BS, "f16"), undefined, flags);
    // Window blocks 0 .. 12 dropped: the last token reads 13 .. 17.
    const dropped = Int32Array.from({ length: blocks }, (_, i) => (i < 13 ? -1 : i));
    const ours = await lastLogits(model, model.createKvCache(blocks, BS, "f16", blocks), dropped, flags);
    assert.deepEqual(ours, reference, `flags ${flags}`);
  }
});

test("bad window tables and options are refused with what was wrong", { skip: noShared }, async () => {
  const model = Model.load(file);
  const blocks = Math.ceil(N / BS);
  const kv = model.createKvCache(blocks, BS, "f16", blocks);
  await assert.rejects(lastLogits(model, kv, undefined), /needs windowBlockTables/);
  const hole = Int32Array.from({ length: blocks }, (_, i) => (i < 14 ? -1 : i)); // block 13 is in the window
  await assert.rejects(lastLogits(model, kv, hole), /window block id out of range at position 69/);
  const opts = { nLayer: 3, nBlocks: 4, blockSize: BS, kvDim: 32, type: "f16" as const };
  assert.throws(() => new native.KvCache({ ...opts, windowLayers: Uint8Array.of(1, 0), nWindowBlocks: 4 }), /one flag per layer/);
  assert.throws(() => new native.KvCache({ ...opts, windowLayers: Uint8Array.of(1, 1, 1), nWindowBlocks: 4 }), /at least one layer outside/);
  assert.throws(() => new native.KvCache({ ...opts, windowLayers: Uint8Array.of(1, 0, 1), nWindowBlocks: 0 }), /nWindowBlocks must be positive/);
  const windowed = new native.KvCache({ ...opts, windowLayers: Uint8Array.of(1, 0, 1), nWindowBlocks: 2 });
  windowed.copyBlock(0, 1, true);
  assert.throws(() => windowed.copyBlock(0, 2, true), /out of range/);
  assert.throws(() => new native.KvCache(opts).copyBlock(0, 1, true), /out of range/);
});
