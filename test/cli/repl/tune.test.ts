import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { configWithPoint, tuneRequest } from "../../../cli/repl/tune.ts";
import { generateOptionsOf, loadSettingsOf } from "../../../cli/repl/config.ts";
import type { Cell } from "../../../cli/repl/state.ts";

const model = { path: "/m/stories15M.gguf", sha256: "a".repeat(64), name: "stories15M.gguf", nLayer: 6, nVocab: 32000, contextSize: 256, headDim: 48, threads: 2 };
const cell = (id: number, prompt: string, text: string): Cell => ({ id, prompt, streams: [{ genId: id, text, tokens: 10, status: "done" }] });

test(":tune's workload is the cells (distinct prompts; prompts with outputs for the quality guard) or a prompts file", () => {
  const long = " and then the dog ran to the park".repeat(20);
  const r = tuneRequest("", { config: { "max-seqs": 16, "kv-block": 32 }, cells: [cell(1, "Once", long), cell(2, "Once", long), cell(3, "The dog", "")], model }, (f) => f);
  assert.deepEqual(r.prompts, ["Once", "The dog"]);
  assert.equal(r.target, "throughput");
  assert.equal(r.streams, 32);
  assert.equal(r.budgetMs, 120_000);
  assert.equal(r.maxPplRise, 0.01);
  assert.ok(r.qualityText?.startsWith("Once and then"));
  // The starting point is the session's configuration, unset keys at the engine's defaults.
  assert.deepEqual(r.base, { threads: 2, maxSeqs: 16, maxBatchTokens: 512, maxWaitMs: 0, kvType: "f16", kvBlockSize: 32 });

  const dir = mkdtempSync(path.join(tmpdir(), "repl-tune-"));
  writeFileSync(path.join(dir, "p.txt"), "a\n\nb\n");
  const f = tuneRequest("both --p99 80 --streams 8 --budget 30 --max-ppl-rise 2 --prompts p.txt", { config: {}, cells: [], model }, (x) => path.join(dir, x));
  assert.deepEqual([f.prompts, f.target, f.p99BoundMs, f.streams, f.budgetMs, f.maxPplRise, f.qualityText], [["a", "b"], "both", 80, 8, 30_000, 0.02, undefined]);
});

test(":tune refuses what it cannot run, naming it", () => {
  const s = { config: {}, cells: [cell(1, "Once", "")], model };
  assert.throws(() => tuneRequest("", { ...s, cells: [] }, (f) => f), /run a few prompts first, or give --prompts FILE/);
  assert.throws(() => tuneRequest("both", s, (f) => f), /needs --p99 MS/);
  assert.throws(() => tuneRequest("--streams 0", s, (f) => f), /--streams: expected a number from 1/);
  assert.throws(() => tuneRequest("--fast", s, (f) => f), /unknown '--fast'/);
  assert.throws(() => tuneRequest("--prompts /nonexistent/p.txt", s, (f) => f), /no such file/);
  assert.throws(() => tuneRequest("", { ...s, model: null }, (f) => f), /no model is loaded/);
});

test("a tuned point as REPL settings: every searched key, speculation and early exit set or removed", () => {
  const point = { threads: 1, maxSeqs: 8, maxBatchTokens: 1024, maxWaitMs: 2, kvType: "f32" as const, kvBlockSize: 32, speculative: { mode: "ngram" as const, k: 4 } };
  const c = configWithPoint({ temp: 0, "exit-early": "3:0.9" }, point);
  assert.deepEqual(loadSettingsOf(c), { draft: undefined, threads: 1, ctxSize: undefined, kvBlock: 32, kvType: "f32" });
  const g = generateOptionsOf(c);
  assert.deepEqual(g.speculative, { mode: "ngram", k: 4 });
  assert.equal(g.earlyExit, undefined);
  assert.equal(g.temperature, 0);
  const off = configWithPoint(c, { ...point, speculative: undefined, earlyExit: [{ layer: 4, threshold: 0.95 }] });
  assert.equal(off["spec"], undefined);
  assert.equal(off["exit-early"], "4:0.95");
});
