import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Model } from "../../../core/model/model.ts";
import type { NativeStepBatch } from "../../../core/native.ts";
import { writeSyntheticModel } from "../../helpers/synthetic-model.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-chain-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, "model.gguf");
writeSyntheticModel(file, { architecture: "llama", nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, seed: 3 });
const model = Model.load(file);
const vocab = model.hparams.nVocab;

/** Two sequences (blocks 0-1 and 2-3 of 16 positions) feeding `prompts`, logits for each one's last token. */
function batchFor(prompts: number[][]): NativeStepBatch {
  const tokens = prompts.flat();
  const seqIds = prompts.flatMap((p, s) => p.map(() => s));
  const positions = prompts.flatMap((p) => p.map((_, i) => i));
  let end = 0;
  const logitRows = Int32Array.from(prompts, (p) => (end += p.length) - 1);
  return {
    tokens: Int32Array.from(tokens), positions: Int32Array.from(positions), seqIds: Int32Array.from(seqIds),
    blockTables: Int32Array.of(0, 1, 2, 3), tableOffsets: Int32Array.of(0, 2, 4), logitRows,
    logits: new Float32Array(prompts.length * vocab),
  };
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

test("greedy drafting in one call gives the tokens a step-by-step argmax loop gives, per sequence and length", async () => {
  const prompts = [[1, 7, 3], [1, 9]];
  const k = [5, 2];
  const chained = model.createKvCache(4, 16, "f16");
  const batch = { ...batchFor(prompts), greedySteps: Int32Array.from(k), greedyTokens: new Int32Array(2 * 5) };
  await model.forward(chained, batch);

  for (let s = 0; s < 2; s++) {
    const stepwise = model.createKvCache(4, 16, "f16");
    const seq = [...prompts[s]!];
    const drafted: number[] = [];
    const first = batchFor([seq]);
    first.blockTables = Int32Array.of(0, 1);
    first.tableOffsets = Int32Array.of(0, 2);
    await model.forward(stepwise, first);
    drafted.push(argmax(first.logits));
    while (drafted.length < k[s]!) {
      const logits = new Float32Array(vocab);
      await model.forward(stepwise, {
        tokens: Int32Array.of(drafted.at(-1)!), positions: Int32Array.of(seq.length + drafted.length - 1), seqIds: Int32Array.of(0),
        blockTables: Int32Array.of(0, 1), tableOffsets: Int32Array.of(0, 2), logitRows: Int32Array.of(0), logits,
      });
      drafted.push(argmax(logits));
    }
    assert.deepEqual(Array.from(batch.greedyTokens.subarray(s * 5, s * 5 + k[s]!)), drafted, `sequence ${s}`);
  }
});

test("bad greedy-drafting arguments are refused with a message saying what is wrong", async () => {
  const kv = model.createKvCache(4, 16, "f16");
  const cases: [string, Partial<NativeStepBatch>, RegExp][] = [
    ["wrong length", { greedySteps: Int32Array.of(2), greedyTokens: new Int32Array(4) }, /one entry per sequence/],
    ["negative k", { greedySteps: Int32Array.of(-1, 2), greedyTokens: new Int32Array(4) }, /\[0, k_max\]/],
    ["output too small", { greedySteps: Int32Array.of(3, 3), greedyTokens: new Int32Array(5) }, /too small/],
    ["rows not per sequence", { greedySteps: Int32Array.of(1, 1), greedyTokens: new Int32Array(2), logitRows: Int32Array.of(2, 0) }, /logit row s to belong to sequence s/],
    // 2 + 31 drafts feed positions past the sequence's two 16-position blocks.
    ["past the block table", { greedySteps: Int32Array.of(31, 1), greedyTokens: new Int32Array(62) }, /beyond its block table/],
  ];
  for (const [name, patch, message] of cases)
    await assert.rejects(model.forward(kv, { ...batchFor([[1, 7, 3], [1, 9]]), ...patch }), message, name);
});

test("with a draft head, greedy drafting takes the argmax over the head's tokens only", async () => {
  const head = Int32Array.of(3, 17, 40, 41, 200, 311, 500);
  model.setDraftHead(head);
  const kv = model.createKvCache(4, 16, "f16");
  const batch = { ...batchFor([[1, 7, 3], [1, 9]]), greedySteps: Int32Array.of(1, 1), greedyTokens: new Int32Array(2), draftHead: true };
  await model.forward(kv, batch);
  // The same forward with the full head: restricted to the head's tokens, its argmax must be what was drafted.
  const full = batchFor([[1, 7, 3], [1, 9]]);
  await model.forward(model.createKvCache(4, 16, "f16"), full);
  for (let s = 0; s < 2; s++) {
    const row = full.logits.subarray(s * vocab, (s + 1) * vocab);
    let best = head[0]!;
    for (const t of head) if (row[t]! > row[best]!) best = t;
    assert.equal(batch.greedyTokens[s], best, `sequence ${s}`);
    assert.ok(Array.from(head).includes(batch.greedyTokens[s]!));
  }
  assert.throws(() => model.setDraftHead(Int32Array.of(vocab)), /outside the vocabulary/);
  model.setDraftHead(new Int32Array(0));
});

test("a speculative step in one call drafts, writes the drafts into the verify batch at tokenOffsets, then verifies them", async () => {
  // Sequence 0 verifies 3 drafts after its last token, sequence 1 none; sequence 1's tokens come first in the batch.
  const prompt = [1, 7, 3];
  const draftBatch = () => ({ ...batchFor([prompt]), blockTables: Int32Array.of(0, 1), tableOffsets: Int32Array.of(0, 2), greedySteps: Int32Array.of(3), greedyTokens: new Int32Array(3) });
  const verifyBatch = (drafts: number[]): NativeStepBatch => {
    const tokens = [5, 8, ...prompt, ...drafts];
    return {
      tokens: Int32Array.from(tokens), positions: Int32Array.of(0, 1, 0, 1, 2, 3, 4, 5), seqIds: Int32Array.of(0, 0, 1, 1, 1, 1, 1, 1),
      blockTables: Int32Array.of(0, 1, 2, 3), tableOffsets: Int32Array.of(0, 2, 4), logitRows: Int32Array.of(1, 4, 5, 6, 7),
      logits: new Float32Array(5 * vocab),
    };
  };
  // Apart: draft, then verify with the drafted tokens.
  const apart = draftBatch();
  await model.forward(model.createKvCache(4, 16, "f16"), apart);
  const reference = verifyBatch(Array.from(apart.greedyTokens));
  await model.forward(model.createKvCache(4, 16, "f16"), reference);
  // One call: the verify batch holds placeholders where the drafts go.
  const draft = draftBatch();
  const oneCall = { ...verifyBatch([0, 0, 0]), draft: model.draftStep(model.createKvCache(4, 16, "f16"), draft, Int32Array.of(5)) };
  await model.forward(model.createKvCache(4, 16, "f16"), oneCall);
  assert.deepEqual(Array.from(draft.greedyTokens), Array.from(apart.greedyTokens));
  assert.deepEqual(Array.from(oneCall.tokens), Array.from(reference.tokens), "the drafts were written where tokenOffsets put them");
  assert.deepEqual(oneCall.logits, reference.logits, "the verify forward saw the drafted tokens");

  const bad: [string, Partial<NativeStepBatch["draft"] & object>, RegExp][] = [
    ["offsets past the batch", { tokenOffsets: Int32Array.of(6) }, /outside the batch/],
    ["offsets per sequence", { tokenOffsets: Int32Array.of(5, 0) }, /one entry per drafting sequence/],
    ["not greedy", { batch: { ...draftBatch(), greedySteps: undefined, greedyTokens: undefined } }, /must draft greedily/],
    ["not a model", { model: {} as never }, /is not a Model/],
  ];
  for (const [name, patch, message] of bad) {
    const step = { ...model.draftStep(model.createKvCache(4, 16, "f16"), draftBatch(), Int32Array.of(5)), ...patch };
    await assert.rejects(model.forward(model.createKvCache(4, 16, "f16"), { ...verifyBatch([0, 0, 0]), draft: step }), message, name);
  }
});
