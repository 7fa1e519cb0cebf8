import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EngineHost } from "../../../cli/repl/engine-host.ts";
import type { Event } from "../../../cli/repl/protocol.ts";

const shared = path.resolve(fileURLToPath(import.meta.url), "../../../../../shared");
const model = path.join(shared, "models/stories260K.gguf"), text = path.join(shared, "reference/eval-stories.txt");

test("the engine worker's :ppl runs core's perplexity: stories260K within 0.5% of llama.cpp's 4.2587, with progress", { skip: !existsSync(model) && "../shared is missing", timeout: 120_000 }, async () => {
  const events: Event[] = [];
  const host = new EngineHost((e) => events.push(e));
  const next = async (type: Event["type"]) => {
    for (let i = 0; i < 12_000; i++) {
      const e = events.find((x) => x.type === type || x.type === "failed" || x.type === "load-failed");
      if (e) return e;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${type} event`);
  };
  host.handle({ type: "load", model, settings: { threads: 2 }, batching: {} });
  host.handle({ type: "ppl", id: 1, file: text, ctx: 128 });
  const loaded = await next("loaded");
  assert.equal(loaded.type, "loaded");
  const done = await next("ppl-done");
  assert.equal(done.type, "ppl-done", JSON.stringify(done));
  if (done.type !== "ppl-done") return;
  assert.ok(Math.abs(done.ppl - 4.2587) / 4.2587 < 0.005, `perplexity ${done.ppl}`);
  assert.ok(events.some((e) => e.type === "ppl-progress" && e.done === 1));
});

test("issue 19: :ppl gives llama-perplexity's figure to every printed digit (stories15M-q4_k_m 5.2055), though the loaded engine computes like a generation", { skip: !existsSync(model) && "../shared is missing", timeout: 300_000 }, async () => {
  const events: Event[] = [];
  const host = new EngineHost((e) => events.push(e));
  const next = async (type: Event["type"]) => {
    for (let i = 0; i < 30_000; i++) {
      const e = events.find((x) => x.type === type || x.type === "failed" || x.type === "load-failed");
      if (e) return events.splice(events.indexOf(e), 1)[0]!;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${type} event`);
  };
  host.handle({ type: "load", model: path.join(shared, "models/stories15M-q4_k_m.gguf"), settings: { threads: 2 }, batching: {} });
  assert.equal((await next("loaded")).type, "loaded");
  host.handle({ type: "ppl", id: 1, file: text, ctx: 128 });
  const done = await next("ppl-done");
  assert.equal(done.type, "ppl-done", JSON.stringify(done));
  if (done.type !== "ppl-done") return;
  assert.equal(done.ppl.toFixed(4), "5.2055", `perplexity ${done.ppl} (llama-perplexity -c 128: 5.2055)`);
  // The loaded engine still generates, with its own arithmetic.
  host.handle({ type: "generate", id: 2, prompt: "Once upon a time", options: { temperature: 0, maxTokens: 8 } });
  const gen = await next("done");
  assert.equal(gen.type, "done", JSON.stringify(gen));
});
