import assert from "node:assert/strict";
import { test } from "node:test";
import { Model } from "../../../core/model/model.ts";
import type { NativeStepBatch } from "../../../core/native.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

// Model.loadAsync packs the weights on a worker thread while the tokenizer loads (Engine.load uses it): the model
// must be the one Model.load gives, packed copies included (stories15M-q8_0's matrices are all packed).

const PROMPT = [1, 9038, 2501, 263, 931]; // "Once upon a time"

async function lastLogits(m: Model): Promise<Float32Array> {
  m.setContextSize(256);
  const n = PROMPT.length;
  const batch: NativeStepBatch = {
    tokens: Int32Array.from(PROMPT), positions: Int32Array.from(PROMPT, (_, i) => i), seqIds: new Int32Array(n),
    blockTables: Int32Array.from({ length: 8 }, (_, i) => i), tableOffsets: Int32Array.from([0, 8]),
    logitRows: Int32Array.from([n - 1]), logits: new Float32Array(m.hparams.nVocab),
  };
  await m.forward(m.createKvCache(8, 16, "f16"), batch);
  return batch.logits;
}

for (const file of ["stories15M-q8_0.gguf", "stories15M-f32.gguf"]) {
  test(`${file}: loadAsync gives load's model (tokenizer and every logit)`, { skip: noShared }, async () => {
    const path = sharedModel(file);
    const [sync, async] = [Model.load(path), await Model.loadAsync(path)];
    assert.deepEqual(async.tokenizer.encode("Once upon a time"), sync.tokenizer.encode("Once upon a time"));
    assert.deepEqual(await lastLogits(async), await lastLogits(sync));
  });
}

test("loadAsync rejects for a file that is not there", async () => {
  await assert.rejects(Model.loadAsync("/nonexistent/model.gguf"));
});
