import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Model } from "../../../core/model/model.ts";
import { native } from "../../../core/native.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";
import { writeSyntheticModel } from "../../helpers/synthetic-model.ts";

// A decode step of many sequences (one token each) runs as one forward per pool thread over a share of its rows
// (Transformer::forward_by_sequence). With one thread it never splits, so the two must agree bit for bit: every
// logit, and every greedy row's argmax.
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-split-"));
after(() => {
  native.setThreads(2);
  rmSync(dir, { recursive: true, force: true });
});
const synthetic = path.join(dir, "model.gguf");
writeSyntheticModel(synthetic, { architecture: "llama", nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, seed: 5 });

const BLOCK = 16, BLOCKS_PER_SEQ = 2;

/** Prompts of 3 to 17 tokens (some cross a block), and the decode step's row order: sequences in reverse. */
function prompts(n: number, vocab: number): number[][] {
  let seed = 99;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0), seed);
  return Array.from({ length: n }, (_, s) => Array.from({ length: 3 + (s % 15) }, () => 3 + (next() % (vocab - 3))));
}

/** Prefills the prompts in one step, then decodes one token per sequence with `threads` threads. */
async function decodeStep(model: Model, threads: number, n: number, greedy: boolean): Promise<Float32Array | Int32Array> {
  native.setThreads(threads);
  const vocab = model.hparams.nVocab, ps = prompts(n, vocab);
  const kv = model.createKvCache(n * BLOCKS_PER_SEQ, BLOCK, "f16");
  const blockTables = Int32Array.from({ length: n * BLOCKS_PER_SEQ }, (_, i) => i);
  const tableOffsets = Int32Array.from({ length: n + 1 }, (_, s) => s * BLOCKS_PER_SEQ);
  await model.forward(kv, {
    tokens: Int32Array.from(ps.flat()), positions: Int32Array.from(ps.flatMap((p) => p.map((_, i) => i))),
    seqIds: Int32Array.from(ps.flatMap((p, s) => p.map(() => s))), blockTables, tableOffsets,
    logitRows: new Int32Array(0), logits: new Float32Array(0),
  });
  const order = Array.from({ length: n }, (_, i) => n - 1 - i);
  const logits = new Float32Array(n * vocab), argmax = new Int32Array(n);
  await model.forward(kv, {
    tokens: Int32Array.from(order, (s) => 1 + (s * 37) % (vocab - 1)), positions: Int32Array.from(order, (s) => ps[s]!.length),
    seqIds: Int32Array.from(order), blockTables, tableOffsets, logitRows: Int32Array.from(order, (_, r) => r), logits,
    ...(greedy ? { argmax } : {}),
  });
  return greedy ? argmax : logits;
}

async function assertSplitMatches(file: string, n: number): Promise<void> {
  const model = Model.load(file);
  for (const greedy of [false, true]) {
    const whole = await decodeStep(model, 1, n, greedy), split = await decodeStep(model, 2, n, greedy);
    assert.equal(split.length, whole.length);
    const first = split.findIndex((v, i) => !Object.is(v, whole[i]));
    assert.equal(first, -1, `${greedy ? "argmax" : "logit"} ${first} differs: ${split[first]} split, ${whole[first]} whole`);
  }
}

test("synthetic model: 8-, 17- and 20-sequence decode steps split over two threads give the one-thread logits and argmax", async () => {
  for (const n of [8, 17, 20]) await assertSplitMatches(synthetic, n);
});

for (const file of ["stories15M-q8_0.gguf", "stories15M-f32.gguf", "stories15M-q4_k_m.gguf"]) {
  test(`${file}: a 24-sequence decode step split over two threads gives the one-thread logits and argmax`, { skip: noShared, timeout: 120_000 }, async () => {
    await assertSplitMatches(sharedModel(file), 24);
  });
}
