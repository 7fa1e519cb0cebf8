import assert from "node:assert/strict";
import { test } from "node:test";
import { generateOptionsOf, loadSettingsOf } from "../../../cli/repl/config.ts";
import { EngineHost } from "../../../cli/repl/engine-host.ts";
import type { Event } from "../../../cli/repl/protocol.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

/** An EngineHost driven directly, with the events it sends collected; `next` waits for one of a type. */
function host() {
  const events: Event[] = [];
  const waiting: (() => void)[] = [];
  const h = new EngineHost((e) => {
    events.push(e);
    waiting.splice(0).forEach((wake) => wake());
  });
  async function next<T extends Event["type"]>(type: T): Promise<Extract<Event, { type: T }>> {
    for (;;) {
      const found = events.find((e) => e.type === type || e.type === "failed" || e.type === "load-failed");
      if (found) {
        events.splice(events.indexOf(found), 1);
        if (found.type !== type) assert.fail(`${found.type}: ${(found as { message: string }).message}`);
        return found as Extract<Event, { type: T }>;
      }
      await new Promise<void>((wake) => waiting.push(wake));
    }
  }
  return { h, next };
}

test("the REPL's :set draft, :spec draft and :exit-early reach the engine, and the cell stats report them", { skip: noShared }, async () => {
  const { h, next } = host();
  const config = { draft: sharedModel("stories15M-q4_0.gguf"), spec: "draft", "spec-k": 4, temp: 0, "n-predict": 24 };
  h.handle({ type: "load", model: sharedModel("stories15M-f32.gguf"), settings: loadSettingsOf(config), batching: {} });
  assert.equal((await next("loaded")).model.draftPath, sharedModel("stories15M-q4_0.gguf"));

  h.handle({ type: "generate", id: 1, prompt: "Once upon a time", options: generateOptionsOf(config) });
  const spec = await next("done");
  assert.ok(spec.stats["specAcceptRate"]! > 0 && spec.stats["specAcceptRate"]! <= 1, JSON.stringify(spec.stats));
  h.handle({ type: "generate", id: 2, prompt: "Once upon a time", options: generateOptionsOf({ temp: 0, "n-predict": 24 }) });
  assert.equal((await next("done")).text, spec.text, "greedy speculation gives the plain greedy text");

  h.handle({ type: "generate", id: 3, prompt: "Once upon a time", options: generateOptionsOf({ temp: 0, "n-predict": 24, "exit-early": "3:0.5" }) });
  const exit = await next("done");
  assert.ok(exit.stats["earlyExitMeanLayers"]! >= 3 && exit.stats["earlyExitMeanLayers"]! <= 6, JSON.stringify(exit.stats));
});

test("issue 19: a :load that fails (a bad file, a draft with another vocabulary) leaves the working model loaded and usable", { skip: noShared, timeout: 120_000 }, async () => {
  const { h, next } = host();
  h.handle({ type: "load", model: sharedModel("stories15M-q8_0.gguf"), settings: {}, batching: {} });
  await next("loaded");
  const greedy = { temperature: 0, maxTokens: 8 };
  h.handle({ type: "generate", id: 1, prompt: "Once upon a time", options: greedy });
  const before = (await next("done")).text;

  const failures: [string, Parameters<typeof loadSettingsOf>[0]][] = [
    [sharedModel("no-such-model.gguf"), {}],
    [sharedModel("stories15M-q8_0.gguf"), { draft: sharedModel("stories260K.gguf") }],
  ];
  for (const [model, config] of failures) {
    h.handle({ type: "load", model, settings: loadSettingsOf(config), batching: {} });
    await assert.rejects(next("loaded"), /load-failed/);
    h.handle({ type: "generate", id: 2, prompt: "Once upon a time", options: greedy });
    assert.equal((await next("done")).text, before, `after the failed load of ${model} ${JSON.stringify(config)}`);
  }
});

test("issue 19: Ctrl+C stops :bench (its generations end), and a repeated :bench measures cold prefill", { skip: noShared, timeout: 300_000 }, async () => {
  const { h, next } = host();
  h.handle({ type: "load", model: sharedModel("stories15M-q8_0.gguf"), settings: { threads: 2 }, batching: {} });
  await next("loaded");
  const bench = { promptTokens: 128, genTokens: 16, repetitions: 1, parallel: [] };
  h.handle({ type: "bench", id: 1, ...bench });
  const first = (await next("bench-done")).result.ppTokensPerS;
  h.handle({ type: "bench", id: 2, ...bench });
  const second = (await next("bench-done")).result.ppTokensPerS;
  // A prefix-cache hit computes one token of the 128 (the cache kept them from the first run): several times faster.
  assert.ok(second < first * 2.5, `prefill ${first.toFixed(0)} then ${second.toFixed(0)} tokens/s: the second run hit the prefix cache`);

  h.handle({ type: "bench", id: 3, promptTokens: 64, genTokens: 1900, repetitions: 1, parallel: [4, 8] });
  await new Promise((r) => setTimeout(r, 300));
  h.handle({ type: "cancel", id: 3 });
  const stopped = Date.now();
  await assert.rejects(next("bench-done"), /failed: :bench stopped/);
  assert.ok(Date.now() - stopped < 2000, `stopped after ${Date.now() - stopped} ms`);
});
