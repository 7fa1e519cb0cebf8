import assert from "node:assert/strict";
import { test } from "node:test";
import { Model, type Arithmetic } from "../../../core/model/model.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";
import { llamaCppLogits, oracleArithmeticDiffers } from "../../helpers/llama-cpp.ts";

// llama.cpp computes a batch of 64 or more tokens with other kernels than a lone token: its tiled flash attention
// (f32 scores and accumulator, tiles of 64 positions, its vectorized expf) and its batched Q4_K order. A model
// loaded with arithmetic "batch" reproduces that path, so a prompt evaluated as one batch gives llama.cpp's
// logits bit for bit; "token" (its generation path) does not, which shows the comparison can tell them apart.
const TEXT =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. " +
  "One day, she saw a big red ball under a tree. She ran to get it, but a dog got there first. The dog was friendly " +
  "and wanted to play too. Lily and the dog played all day long until the sun went down.";

/** Our logits after every position of the prompt, evaluated as one batch. */
async function ourBatchLogits(path: string, arithmetic: Arithmetic): Promise<{ tokens: number[]; logits: Float32Array; vocab: number }> {
  const model = Model.load(path, arithmetic);
  const tokens = Array.from(model.tokenizer.encode(TEXT, { addSpecial: true }));
  const n = tokens.length, vocab = model.hparams.nVocab, blockSize = 16, nBlocks = Math.ceil(n / blockSize);
  const logits = new Float32Array(n * vocab);
  await model.forward(model.createKvCache(nBlocks, blockSize, "f16"), {
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(tokens, (_, i) => i),
    seqIds: new Int32Array(n),
    blockTables: Int32Array.from({ length: nBlocks }, (_, i) => i),
    tableOffsets: Int32Array.of(0, nBlocks),
    logitRows: Int32Array.from(tokens, (_, i) => i),
    logits,
  });
  return { tokens, logits, vocab };
}

/** Rows (positions) where any of our logits differs from llama.cpp's. */
async function differingRows(file: string, arithmetic: Arithmetic): Promise<{ rows: number; of: number }> {
  const ours = await ourBatchLogits(sharedModel(file), arithmetic);
  assert.ok(ours.tokens.length >= 64, `the prompt must be a batch of 64+ tokens, has ${ours.tokens.length}`);
  const want = await llamaCppLogits(sharedModel(file), ours.tokens);
  let rows = 0;
  want.forEach((row, r) => {
    for (const [id, v] of row) {
      if (ours.logits[r * ours.vocab + id] !== v) {
        rows++;
        return;
      }
    }
  });
  return { rows, of: want.length };
}

for (const file of ["stories15M-f32.gguf", "stories15M-f16.gguf", "stories15M-q8_0.gguf", "stories15M-q6_k.gguf", "stories15M-q4_k_m.gguf", "stories15M-q4_0.gguf"]) {
  test(`${file}: batch arithmetic gives llama.cpp's logits for a prompt evaluated as one batch, bit for bit`, { skip: noShared, timeout: 120_000 }, async (t) => {
    // Elsewhere the perplexity test checks the batch arithmetic against the stored reference's figures.
    const differs = await oracleArithmeticDiffers();
    if (differs) return t.skip(differs);
    const { rows, of } = await differingRows(file, "batch");
    assert.equal(rows, 0, `${rows} of ${of} positions have a logit that differs from llama.cpp's`);
  });
}

test("token arithmetic is llama.cpp's lone-token path: most positions of a one-batch prompt differ from its batch", { skip: noShared, timeout: 120_000 }, async () => {
  const { rows, of } = await differingRows("stories15M-q4_k_m.gguf", "token");
  assert.ok(rows > of / 2, `only ${rows} of ${of} positions differ`);
});
