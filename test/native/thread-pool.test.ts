import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Model } from "../../core/model/model.ts";
import { native } from "../../core/native.ts";
import { writeSyntheticModel } from "../helpers/synthetic-model.ts";

// A parallel section ends when its tasks are done, without waiting for workers that have not started, and a late
// worker joins whatever section is current (native/thread_pool.cc). With far more pool threads than cores, workers
// are descheduled all the time, so sections end without them and they arrive in later ones: every forward must
// still give the one-thread logits bit for bit (a task claimed twice, skipped, or run with another section's
// function would change them, or crash).
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-pool-"));
after(() => {
  native.setThreads(availableParallelism());
  rmSync(dir, { recursive: true, force: true });
});
const file = path.join(dir, "model.gguf");
writeSyntheticModel(file, { architecture: "llama", nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, seed: 11 });

const BLOCK = 16;

/** Logits of every position of a `length`-token prompt, evaluated as one batch with `threads` pool threads. */
async function promptLogits(model: Model, threads: number, length: number): Promise<Float32Array> {
  native.setThreads(threads);
  const vocab = model.hparams.nVocab, blocks = Math.ceil(length / BLOCK);
  const kv = model.createKvCache(blocks, BLOCK, "f16");
  const logits = new Float32Array(length * vocab);
  await model.forward(kv, {
    tokens: Int32Array.from({ length }, (_, i) => 1 + (i * 131) % (vocab - 1)),
    positions: Int32Array.from({ length }, (_, i) => i),
    seqIds: new Int32Array(length),
    blockTables: Int32Array.from({ length: blocks }, (_, i) => i),
    tableOffsets: Int32Array.of(0, blocks),
    logitRows: Int32Array.from({ length }, (_, i) => i),
    logits,
  });
  return logits;
}

test("with 8x more pool threads than cores, 40 forwards give the one-thread logits bit for bit", async () => {
  const model = Model.load(file);
  const oversubscribed = 8 * availableParallelism();
  for (let round = 0; round < 40; round++) {
    const length = 8 + (round % 5) * 9;
    const [one, many] = [await promptLogits(model, 1, length), await promptLogits(model, oversubscribed, length)];
    const first = many.findIndex((v, i) => !Object.is(v, one[i]));
    assert.equal(first, -1, `forward ${round} (${length} tokens): logit ${first} is ${many[first]} with ${oversubscribed} threads, ${one[first]} with one`);
  }
});
