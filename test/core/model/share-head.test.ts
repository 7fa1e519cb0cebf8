import assert from "node:assert/strict";
import { test } from "node:test";
import { Model } from "../../../core/model/model.ts";
import { nativeKernels } from "../../../core/native-kernels.ts";
import type { NativeStepBatch } from "../../../core/native.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

// A q4_0 stories15M's Q8_0 head holds the same bytes as the f32 target's argmax estimate copy (both quantized from the
// same f32 rows by llama.cpp's reference Q8_0 rounding): the draft then reads the target's copy and frees its own.
// Whatever it reads, its drafts and logits must be those of its own head.

const PROMPT = [1, 9038, 2501, 263, 931]; // "Once upon a time"
// Packed copies, the target's estimate copy among them, are made by the AVX-512 kernels only (the AMX variant runs
// them too): elsewhere nothing is shared.
const noPacking = !["avx512", "amx"].includes(nativeKernels.cpuFeatures().autoVariant) && "packed copies (and so a shared head) are AVX-512 only";

function load(file: string): Model {
  const m = Model.load(sharedModel(file));
  m.setContextSize(256);
  return m;
}

function batch(tokens: number[], extra: Partial<NativeStepBatch>): NativeStepBatch {
  const n = tokens.length;
  return {
    tokens: Int32Array.from(tokens), positions: Int32Array.from(tokens, (_, i) => i), seqIds: new Int32Array(n),
    blockTables: Int32Array.from({ length: 8 }, (_, i) => i), tableOffsets: Int32Array.from([0, 8]),
    logitRows: Int32Array.from([n - 1]), logits: new Float32Array(0), ...extra,
  };
}

/** 24 greedy draft tokens after the prompt (one native chain, the argmax through the head) and the prompt's last logits row. */
async function draftAndLogits(m: Model): Promise<{ drafted: number[]; logits: Float32Array }> {
  const chain = batch(PROMPT, { greedySteps: Int32Array.from([24]), greedyTokens: new Int32Array(24), threads: 1 });
  await m.forward(m.createKvCache(8, 16, "f16"), chain);
  const full = batch(PROMPT, { logits: new Float32Array(m.hparams.nVocab) });
  await m.forward(m.createKvCache(8, 16, "f16"), full);
  return { drafted: Array.from(chain.greedyTokens!), logits: full.logits };
}

test("a q4_0 draft shares the f32 target's head copy and drafts exactly as with its own", { skip: noShared || noPacking }, async () => {
  const target = load("stories15M-f32.gguf");
  const own = load("stories15M-q4_0.gguf"), shared = load("stories15M-q4_0.gguf");
  assert.equal(shared.shareHeadWith(target), true);
  const a = await draftAndLogits(own), b = await draftAndLogits(shared);
  assert.deepEqual(b.drafted, a.drafted);
  assert.ok(new Set(a.drafted).size > 4, `a real story, not one repeated token: ${a.drafted}`);
  assert.deepEqual(b.logits, a.logits);
});

test("a head is shared only when its bytes are the target's copy", { skip: noShared }, async () => {
  const draft = load("stories15M-q4_0.gguf");
  assert.equal(draft.shareHeadWith(load("stories15M-q8_0.gguf")), false, "a Q8_0 target has no estimate copy");
  assert.equal(load("stories15M-f32.gguf").shareHeadWith(load("stories15M-f32.gguf")), false, "an f32 head is no Q8_0 copy");
  assert.equal(draft.shareHeadWith(load("stories260K.gguf")), false, "another vocabulary");
  assert.throws(() => (draft as unknown as { nativeModel: { shareHeadWith(x: unknown): boolean } }).nativeModel.shareHeadWith({}), /expects a Model/);
});
