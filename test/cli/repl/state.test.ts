import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadSession, saveSession } from "../../../cli/session/session-file.ts";
import { fromSessionCells, initialState, reduce, toSessionCells, type Cell } from "../../../cli/repl/state.ts";
import { measuredUnder, sessionRecipe } from "../../../cli/repl/export-recipe.ts";

const cells: Cell[] = [
  { id: 1, prompt: "Once", streams: [{ genId: -1, text: " upon", tokens: 2, status: "done", finishReason: "length", stats: { ttftMs: 3.5, decodeTokensPerS: 100 } }] },
  { id: 2, prompt: "par", streams: [
    { genId: -1, text: "a", tokens: 1, status: "stopped", finishReason: "abort", stats: { ttftMs: 1 } },
    { genId: -1, text: "", tokens: 0, status: "error", error: "the prompt is too long" },
  ] },
];

test("cells survive the session file exactly, :parallel groups included", () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "repl-state-")), "s.session");
  saveSession(file, { model: null, config: { temp: 0, stop: ["\n"] }, cells: toSessionCells(cells), createdAt: new Date(0).toISOString() });
  const back = loadSession(file);
  assert.deepEqual(fromSessionCells(back.cells, 1), cells);
  assert.deepEqual(back.config, { temp: 0, stop: ["\n"] });
});

test("tokens stream into the running cell, which moves to the notebook when done", () => {
  let s = reduce(initialState({}), { type: "start-cell", prompt: "p", genIds: [7] });
  s = reduce(s, { type: "engine", event: { type: "tokens", chunks: [{ id: 7, text: "ab", count: 2 }, { id: 99, text: "x", count: 1 }] } });
  assert.equal(s.active[0]!.streams[0]!.text, "ab");
  s = reduce(s, { type: "engine", event: { type: "done", id: 7, finishReason: "eos", text: "abc", stats: {} } });
  assert.equal(s.active.length, 0);
  assert.equal(s.cells[0]!.streams[0]!.text, "abc");
  // Printed as it streamed: the head, the text, the foot.
  assert.deepEqual(s.transcript.map((t) => t.kind), ["cell-head", "lines", "cell-foot"]);
  assert.deepEqual(s.transcript[1], { kind: "lines", key: "t1", text: "abc" });
});

test("a text frame carries the engine's stats when they are due: the status bar's figures and sparkline move with it", () => {
  const stats = {
    blocks: { total: 100, used: 3, free: 97, cached: 0 }, kvBytesUsed: 3 * 16 * 1024, prefixCache: { lookedUpTokens: 0, hitTokens: 0, hitRate: 0, evictions: 0 },
    waiting: 0, running: 1, preemptions: 0, steps: 40, promptTokensComputed: 4, tokensGenerated: 36, tokensPerS: 950,
  };
  let s = reduce(initialState({}), { type: "start-cell", prompt: "p", genIds: [7] });
  s = reduce(s, { type: "engine", event: { type: "tokens", chunks: [{ id: 7, text: "ab", count: 2 }] } });
  assert.equal(s.stats, null, "a frame without stats leaves them");
  s = reduce(s, { type: "engine", event: { type: "tokens", chunks: [{ id: 7, text: "c", count: 1 }], stats } });
  assert.equal(s.active[0]!.streams[0]!.text, "abc");
  assert.deepEqual(s.stats, stats);
  assert.deepEqual(s.rates, [950]);
});

test("an exported recipe is core's recipe of the session: model and sha256, settings, speculation and early exit, measured figures", () => {
  let s = initialState({ temp: 0.8, seed: 7, "top-k": 1, "n-predict": 50, stop: ["\n"], "max-seqs": 8, "kv-type": "f32", threads: 2, spec: "self:3", "spec-k": 5, "exit-early": "4:0.9,3:0.95" });
  s = { ...s, model: { path: "/m/x.gguf", sha256: "b".repeat(64), name: "x.gguf", nLayer: 6, nVocab: 32000, contextSize: 256, headDim: 48, threads: 2 } };
  s = { ...s, cells: cells.map((c) => ({ ...c, measuredUnder: measuredUnder(s) })) };
  s = reduce(s, { type: "start-job", job: { id: 1, label: "ppl", measuredUnder: "b".repeat(64) } });
  s = reduce(s, { type: "engine", event: { type: "ppl-done", id: 1, ppl: 5.1119, chunks: 5, tokensScored: 315, file: "/texts/eval.txt" } });
  const source = sessionRecipe(s, "/m/recipes/tuned.ts", new Date(0));
  assert.match(source, /^\/\/ infer-repl recipe, exported 1970-01-01T00:00:00\.000Z\.$/m);
  assert.match(source, /^\/\/ Measured when tuned: 100\.0 tokens\/s; perplexity 5\.112 on eval\.txt\.$/m);
  assert.match(source, /^export default defineRecipe\(import\.meta, \{$/m);
  assert.match(source, new RegExp(`model: \\{ file: "\\.\\./x\\.gguf", sha256: "${"b".repeat(64)}" \\}`));
  assert.match(source, /sampling: \{ temperature: 0\.8, topK: 1, seed: 7 \}/);
  assert.match(source, /maxTokens: 50,/);
  assert.match(source, /stop: \["\\n"\],/);
  assert.match(source, /batching: \{ maxSeqs: 8 \}/);
  assert.match(source, /kv: \{ type: "f32" \}/);
  assert.match(source, /threads: 2,/);
  assert.match(source, /speculative: \{ mode: "self", layers: 3, k: 5 \},/);
  assert.match(source, /earlyExit: \[\{ layer: 4, threshold: 0\.9 \}, \{ layer: 3, threshold: 0\.95 \}\],/);
});

test("an exported recipe carries the loaded draft model beside spec = draft, and the session's draft acceptance", () => {
  const specCell: Cell = { id: 3, prompt: "Once", streams: [{ genId: -1, text: " upon", tokens: 2, status: "done", finishReason: "length", stats: { decodeTokensPerS: 90, specAcceptRate: 0.625 } }] };
  let s = initialState({ spec: "draft", draft: "d.gguf" });
  s = { ...s, model: { path: "/m/x.gguf", sha256: "b".repeat(64), name: "x.gguf", nLayer: 6, nVocab: 32000, contextSize: 256, headDim: 48, threads: 2, draftPath: "/m/d.gguf" } };
  s = { ...s, cells: [{ ...specCell, measuredUnder: measuredUnder(s) }] };
  const source = sessionRecipe(s, "/m/recipes/tuned.ts", new Date(0));
  assert.match(source, /speculative: \{ mode: "draft", draft: "\.\.\/d\.gguf" \},/);
  assert.match(source, /^\/\/ Measured when tuned: 90\.0 tokens\/s; speculative accept rate 62\.5%\.$/m);
});

test("issue 19: an exported recipe quotes only figures measured under its own model and settings", () => {
  const model = (sha: string, name: string) => ({ path: `/m/${name}`, sha256: sha.repeat(64), name, nLayer: 6, nVocab: 32000, contextSize: 256, headDim: 48, threads: 2 });
  const done = (tokensPerS: number) => ({ genId: 1, text: "x", tokens: 1, status: "done" as const, finishReason: "length", stats: { decodeTokensPerS: tokensPerS } });
  let s = initialState({ temp: 0 });
  s = { ...s, model: model("a", "a.gguf") };
  // Measured on model a at temp 0: a cell, a :bench and a :ppl.
  s = reduce(s, { type: "start-cell", prompt: "p", genIds: [1] });
  s = reduce(s, { type: "engine", event: { type: "done", id: 1, finishReason: "length", text: "x", stats: done(500).stats } });
  s = reduce(s, { type: "start-job", job: { id: 2, label: "bench", measuredUnder: measuredUnder(s) } });
  s = reduce(s, { type: "engine", event: { type: "bench-done", id: 2, promptTokens: 64, genTokens: 32, result: { ppTokensPerS: 9000, tgTokensPerS: 700, parallel: [] } } });
  s = reduce(s, { type: "start-job", job: { id: 3, label: "ppl", measuredUnder: "a".repeat(64) } });
  s = reduce(s, { type: "engine", event: { type: "ppl-done", id: 3, ppl: 3.25, chunks: 2, tokensScored: 126, file: "/t/e.txt" } });
  assert.match(sessionRecipe(s, "/m/r.ts", new Date(0)), /^\/\/ Measured when tuned: 500\.0 tokens\/s; perplexity 3\.250 on e\.txt\.$/m);

  // Other settings: the cell and the bench no longer describe the recipe (the perplexity, a property of the model, does).
  const warm = { ...s, config: { temp: 0.9 } };
  assert.match(sessionRecipe(warm, "/m/r.ts", new Date(0)), /^\/\/ Measured when tuned: perplexity 3\.250 on e\.txt\.$/m);
  // Another model: nothing measured applies.
  const other = { ...s, model: model("c", "c.gguf") };
  assert.doesNotMatch(sessionRecipe(other, "/m/r.ts", new Date(0)), /Measured/);
  // With the bench the only figure under the settings, its decode speed is quoted.
  const benchOnly = { ...s, cells: s.cells.map((c) => ({ ...c, measuredUnder: "another" })) };
  assert.match(sessionRecipe(benchOnly, "/m/r.ts", new Date(0)), /^\/\/ Measured when tuned: 700\.0 tokens\/s; perplexity 3\.250 on e\.txt\.$/m);
});

test("a prompt starts its cell even when the settings cannot be written as a recipe (nothing measured under them is quoted)", () => {
  let s = initialState({});
  s = { ...s, model: { path: "/m/x.gguf", sha256: "not a sha", name: "x.gguf", nLayer: 6, nVocab: 32000, contextSize: 256, headDim: 48, threads: 2 } };
  s = reduce(s, { type: "start-cell", prompt: "p", genIds: [1] });
  assert.equal(s.active.length, 1);
  assert.equal(s.active[0]!.measuredUnder, undefined);
});
