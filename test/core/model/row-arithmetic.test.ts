import assert from "node:assert/strict";
import { test } from "node:test";
import { Model } from "../../../core/model/model.ts";
import { ROW_FLOAT_BATCH } from "../../../core/model/row-arithmetic.ts";
import type { NativeStepBatch } from "../../../core/native.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

// A speculative verify step feeds the last token and its drafts as one batch; plain decoding feeds each alone. Float
// matmuls sum a lone row in ggml_vec_dot's order and a prompt-batch row (ROW_FLOAT_BATCH) in tinyBLAS's; were the
// verify rows summed in tinyBLAS's, their logits would differ from plain steps' (f32 stories15M: up to 1.8e-3) and
// greedy speculation could pick other tokens.
const LONE = 0;
const tokens = [1, 9038, 2501, 263, 931, 727, 471, 263, 2217];
const table = Int32Array.from({ length: 4 }, (_, i) => i);

function batch(ids: number[], start: number, rows: number, flag: number, vocab: number, argmax: boolean): NativeStepBatch {
  return {
    tokens: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => start + i), seqIds: new Int32Array(ids.length),
    blockTables: table, tableOffsets: Int32Array.of(0, table.length),
    logitRows: Int32Array.from({ length: rows }, (_, i) => ids.length - rows + i), logits: new Float32Array(argmax ? 0 : rows * vocab),
    rowArithmetic: new Uint8Array(ids.length).fill(flag), ...(argmax ? { argmax: new Int32Array(rows) } : {}),
  };
}

for (const file of ["stories15M-f32.gguf", "stories15M-f16.gguf", "stories15M-q8_0.gguf"]) {
  test(`${file}: lone rows of a several-row step (a verify step) have the logits and argmax of steps of one row`, { skip: noShared }, async () => {
    const model = Model.load(sharedModel(file));
    const vocab = model.hparams.nVocab;
    const prefix = tokens.slice(0, 4), rest = tokens.slice(4);
    const apart = model.createKvCache(4, 16, "f16"), together = model.createKvCache(4, 16, "f16");
    for (const kv of [apart, together]) await model.forward(kv, batch(prefix, 0, 1, LONE, vocab, false));
    const verify = batch(rest, 4, rest.length, LONE, vocab, false);
    await model.forward(together, verify);
    const verifyArgmax = batch(rest, 4, rest.length, LONE, vocab, true);
    for (let i = 0; i < rest.length; i++) {
      const one = batch([rest[i]!], 4 + i, 1, LONE, vocab, false);
      await model.forward(apart, one);
      assert.deepEqual(verify.logits.subarray(i * vocab, (i + 1) * vocab), one.logits, `row ${i}`);
    }
    // The argmax shortcut of the same rows (a greedy verify step) picks what the lone rows' logits pick.
    const kv = model.createKvCache(4, 16, "f16");
    await model.forward(kv, batch(prefix, 0, 1, LONE, vocab, false));
    await model.forward(kv, verifyArgmax);
    for (let i = 0; i < rest.length; i++) {
      const row = verify.logits.subarray(i * vocab, (i + 1) * vocab);
      let best = 0;
      for (let t = 1; t < vocab; t++) if (row[t]! > row[best]!) best = t;
      assert.equal(verifyArgmax.argmax![i], best, `argmax of row ${i}`);
    }
  });
}

test("rows flagged ROW_FLOAT_BATCH of a several-row f32 step take tinyBLAS's order (other bits than alone)", { skip: noShared }, async () => {
  // The flag must matter, or the test above could not fail.
  const model = Model.load(sharedModel("stories15M-f32.gguf"));
  const vocab = model.hparams.nVocab;
  const kv = model.createKvCache(4, 16, "f16"), alone = model.createKvCache(4, 16, "f16");
  const both = batch(tokens.slice(0, 2), 0, 2, ROW_FLOAT_BATCH, vocab, false);
  await model.forward(kv, both);
  await model.forward(alone, batch(tokens.slice(0, 1), 0, 1, 0, vocab, false));
  const second = batch(tokens.slice(1, 2), 1, 1, 0, vocab, false);
  await model.forward(alone, second);
  assert.notDeepEqual(both.logits.subarray(vocab), second.logits);
});
