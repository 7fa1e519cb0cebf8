import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine } from "../../../core/engine.ts";
import { parseEarlyExit, resolveEarlyExit } from "../../../core/earlyexit/options.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

const PROMPT = "Once upon a time";

test("exit points parse from L:T lists and are checked against the model's depth", () => {
  assert.deepEqual(parseEarlyExit("3:0.9, 4:0.95"), [{ layer: 3, threshold: 0.9 }, { layer: 4, threshold: 0.95 }]);
  assert.throws(() => parseEarlyExit("3-0.9"), /LAYER:THRESHOLD/);
  assert.deepEqual(resolveEarlyExit([{ layer: 4, threshold: 0.5 }, { layer: 2, threshold: 0.9 }], 6).map((p) => p.layer), [2, 4]);
  assert.throws(() => resolveEarlyExit([{ layer: 6, threshold: 0.5 }], 6), /from 1 to 5/);
  assert.throws(() => resolveEarlyExit([{ layer: 2, threshold: 0 }], 6), /threshold/);
  assert.throws(() => resolveEarlyExit([{ layer: 2, threshold: 0.5 }, { layer: 2, threshold: 0.6 }], 6), /twice/);
  assert.throws(() => resolveEarlyExit([], 6), /non-empty/);
});

test("an exit every token passes stops each decode at that layer, with the shallow model's logits", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories260K.gguf"), threads: 2 });
  const r = await engine.generate(PROMPT, { temperature: 0, maxTokens: 12, ignoreEos: true, earlyExit: [{ layer: 2, threshold: 1e-6 }] });
  // The first token comes from the (full-depth) prefill step; every decode step exits after 2 layers.
  const hist = new Array(6).fill(0);
  hist[2] = 11;
  hist[5] = 1;
  assert.deepEqual(r.stats.earlyExitHistogram, hist);
  assert.equal(r.stats.earlyExitMeanLayers, (11 * 2 + 5) / 12);

  // Token 2 is the argmax of the first 2 layers' logits after prompt + token 1 (the self-drafting forward).
  const prompt = Array.from(engine.tokenize(PROMPT));
  const full = await engine.generate(prompt, { temperature: 0, maxTokens: 1 });
  assert.equal(r.tokens[0], full.tokens[0]);
  const vocab = engine.model.hparams.nVocab;
  const logits = new Float32Array(vocab);
  const kv = engine.model.createKvCache(2, 16, "f16");
  const ids = Int32Array.from([...prompt, r.tokens[0]!]);
  await engine.model.forward(kv, {
    tokens: ids, positions: Int32Array.from(ids, (_, i) => i), seqIds: new Int32Array(ids.length),
    blockTables: Int32Array.of(0), tableOffsets: Int32Array.of(0, 1), logitRows: Int32Array.of(ids.length - 1), logits, nLayers: 2,
  });
  assert.equal(r.tokens[1], logits.indexOf(Math.max(...logits)));
});

test("the reduced exit head changes the test, not the emitted logits", { skip: noShared }, async () => {
  const full = await Engine.load({ model: sharedModel("stories260K.gguf"), threads: 2 });
  const reduced = await Engine.load({ model: sharedModel("stories260K.gguf"), threads: 2, earlyExitHead: 64 });
  const options = { temperature: 0, maxTokens: 16, ignoreEos: true, earlyExit: [{ layer: 3, threshold: 1e-6 }] };
  assert.deepEqual((await reduced.generate(PROMPT, options)).tokens, (await full.generate(PROMPT, options)).tokens);
  await assert.rejects(Engine.load({ model: sharedModel("stories260K.gguf"), earlyExitHead: -1 }), /earlyExitHead/);
});

test("a request without early exit decodes at full depth beside one with it", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories260K.gguf"), threads: 2 });
  const plain = await engine.generate(PROMPT, { temperature: 0, maxTokens: 16 });
  const [a, b] = await Promise.all([
    engine.generate(PROMPT, { temperature: 0, maxTokens: 16 }),
    engine.generate("The little dog", { temperature: 0, maxTokens: 16, earlyExit: [{ layer: 1, threshold: 1e-6 }] }),
  ]);
  assert.deepEqual(a!.tokens, plain.tokens);
  assert.equal(a!.stats.earlyExitMeanLayers, undefined);
  assert.ok(b!.stats.earlyExitMeanLayers! > 1, "shared steps ran at full depth");
  assert.throws(() => engine.generate(PROMPT, { earlyExit: [{ layer: 9, threshold: 0.5 }] }), /layer must be/);
});
