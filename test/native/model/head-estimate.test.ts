import assert from "node:assert/strict";
import { test } from "node:test";
import { readGguf } from "../../../core/gguf/index.ts";
import { readHparams } from "../../../core/model/hparams.ts";
import { weightTable } from "../../../core/model/weights.ts";
import { native, type NativeModel, type NativeStepBatch } from "../../../core/native.ts";
import { nativeKernels } from "../../../core/native-kernels.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

// A float head's Q8_0 estimate copy is made after load (Transformer::finish_head_estimate): in chunks, by a
// background thread and by the first forward, which makes whatever is left over the pool. The copy must be whole
// and in use from the first forward on, every greedy step's argmax the scan of the full logits, and the tokens the
// same whoever made which chunks.
const skip = noShared || (!nativeKernels.cpuFeatures().variants.includes("avx512") && "the estimate copy is made for AVX-512 only");
const PROMPT = [1, 9038, 2501, 263, 931]; // "Once upon a time"
const STEPS = 12;

function load(headEstimate: "background" | "on-demand"): NativeModel {
  const path = sharedModel("stories15M-f32.gguf");
  const file = readGguf(path);
  const hparams = readHparams(file);
  return new native.Model({ path, config: { ...hparams, batchArithmetic: false }, tensors: weightTable(file, hparams), headEstimate });
}

function kvCache() {
  return new native.KvCache({ nLayer: 6, nBlocks: 8, blockSize: 16, kvDim: 288, type: "f16" });
}

/** One sequence's step: `tokens` at positions from `start`, the last row's argmax (or logits). */
function step(tokens: number[], start: number, logits?: Float32Array): NativeStepBatch {
  const n = tokens.length;
  return {
    tokens: Int32Array.from(tokens), positions: Int32Array.from(tokens, (_, i) => start + i), seqIds: new Int32Array(n),
    blockTables: Int32Array.from({ length: 8 }, (_, i) => i), tableOffsets: Int32Array.from([0, 8]),
    logitRows: Int32Array.from([n - 1]), logits: logits ?? new Float32Array(0), ...(logits ? {} : { argmax: new Int32Array(1) }),
  };
}

/** STEPS greedy tokens after the prompt, one forward each, and whether the copy was in use after each. */
async function greedy(m: NativeModel): Promise<{ tokens: number[]; ready: boolean[] }> {
  const kv = kvCache();
  const tokens: number[] = [], ready: boolean[] = [];
  let feed = PROMPT, pos = 0;
  for (let i = 0; i < STEPS; i++) {
    const b = step(feed, pos);
    await m.forward(kv, b);
    pos += feed.length;
    feed = [b.argmax![0]!];
    tokens.push(feed[0]!);
    ready.push(m.headEstimateReady());
  }
  return { tokens, ready };
}

/** The same tokens by scanning full logits rows (no argmax shortcut). */
async function scanned(m: NativeModel, n: number): Promise<number[]> {
  const kv = kvCache();
  const tokens: number[] = [];
  let feed = PROMPT, pos = 0;
  for (let i = 0; i < n; i++) {
    const logits = new Float32Array(32000);
    await m.forward(kv, step(feed, pos, logits));
    pos += feed.length;
    let best = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
    feed = [best];
    tokens.push(best);
  }
  return tokens;
}

test("on demand: the first forward makes the copy and greedy steps use it; the tokens are the logits' scan", { skip }, async () => {
  const m = load("on-demand");
  assert.equal(m.headEstimateReady(), false, "no copy at load");
  const { tokens, ready } = await greedy(m);
  assert.deepEqual(ready, Array(STEPS).fill(true), "the copy is in use from the first greedy step");
  assert.deepEqual(tokens, await scanned(load("on-demand"), STEPS));
});

test("background: the same tokens, the copy in use from the first forward", { skip }, async () => {
  const m = load("background");
  const { tokens, ready } = await greedy(m);
  assert.deepEqual(ready, Array(STEPS).fill(true));
  assert.deepEqual(tokens, (await greedy(load("on-demand"))).tokens);
});

test("a first forward with full logits makes the copy too: no background reads of the file after it", { skip }, async () => {
  const m = load("on-demand");
  await scanned(m, 1);
  assert.equal(m.headEstimateReady(), true);
});
