import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine } from "../../core/engine.ts";
import { noShared, sharedModel } from "../helpers/index.ts";

test("streamed text continues the prompt: a first token that starts a word keeps its space", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories15M-f32.gguf"), threads: 2 });
  const r = await engine.generate("The little dog was sad because", { temperature: 0, maxTokens: 4 });
  assert.ok(r.text.startsWith(" he"), JSON.stringify(r.text));
  const streamed: string[] = [];
  const s = engine.stream("The little dog was sad because", { temperature: 0, maxTokens: 4 });
  for await (const e of s) streamed.push(e.text);
  assert.equal(streamed.join(""), r.text);
});

test("stop strings end generation before the stop text, which is never emitted", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories15M-f32.gguf"), threads: 2 });
  const full = await engine.generate("Once upon a time", { temperature: 0, maxTokens: 40 });
  const r = await engine.generate("Once upon a time", { temperature: 0, maxTokens: 40, stop: ["Lily"] });
  assert.equal(r.finishReason, "stop");
  assert.equal(r.text, full.text.slice(0, full.text.indexOf("Lily")));
});

test("an aborted request ends with finish reason abort and frees its blocks", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories260K.gguf"), threads: 2 });
  const free = engine.stats().blocks.free;
  const controller = new AbortController();
  const s = engine.stream("Once upon a time", { maxTokens: 500, signal: controller.signal, ignoreEos: true });
  let n = 0;
  for await (const _ of s) if (++n === 5) controller.abort();
  assert.equal((await s.result).finishReason, "abort");
  assert.equal(engine.stats().blocks.free, free);
});
