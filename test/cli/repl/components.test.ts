import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createElement as h } from "react";
import { render } from "ink-testing-library";
import { App } from "../../../cli/repl/App.tsx";
import { CellView } from "../../../cli/repl/components/CellView.tsx";
import { SettingsPanel } from "../../../cli/repl/components/SettingsPanel.tsx";
import { StatusBar, statusText } from "../../../cli/repl/components/StatusBar.tsx";
import { generateOptionsOf } from "../../../cli/repl/config.ts";
import { initialState, type ReplState } from "../../../cli/repl/state.ts";
import { Store } from "../../../cli/repl/store.ts";
import type { ModelInfo } from "../../../cli/repl/protocol.ts";
import { FakeLink } from "./fake-link.ts";

// Ink renders asynchronously (throttled frames): wait until the frame shows what we expect.
async function until(frame: () => string | undefined, check: (f: string) => boolean, what: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const f = frame() ?? "";
    if (check(f)) return f;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}; last frame:\n${frame()}`);
}

const MODEL: ModelInfo = { path: "/m/stories15M-q8_0.gguf", sha256: "a".repeat(64), name: "stories15M-q8_0.gguf", nLayer: 6, nVocab: 32000, contextSize: 256, headDim: 48, threads: 2 };
const STATS = {
  blocks: { total: 100, used: 25, free: 75, cached: 0 }, waiting: 0, running: 1, preemptions: 0, steps: 10, promptTokensComputed: 5,
  tokensGenerated: 40, tokensPerS: 250, prefixCache: { lookedUpTokens: 0, hitTokens: 0, hitRate: 0, evictions: 0 }, kvBytesUsed: 0,
};

async function setup() {
  const store = new Store(initialState({}));
  const link = new FakeLink();
  const dir = mkdtempSync(path.join(tmpdir(), "repl-ui-"));
  const app = render(h(App, { store, link, cwd: dir }));
  link.emit({ type: "loaded", model: MODEL, batching: { maxSeqs: 32, maxBatchTokens: 512, maxWaitMs: 0, prefixCaching: true }, stats: STATS });
  await until(app.lastFrame, (f) => f.includes("loaded /m/"), "the first frame");
  const type = async (text: string) => {
    app.stdin.write(text);
    await new Promise((r) => setTimeout(r, 20));
  };
  return { store, link, app, dir, type };
}

test("a prompt becomes a cell that streams text and then shows its stats", async () => {
  const { link, app, type } = await setup();
  await type("Once upon a time");
  await type("\r");
  const gen = link.last("generate");
  assert.ok(gen, `a generate request was sent: ${JSON.stringify(link.sent)} ${app.lastFrame()}`);
  assert.equal(gen.prompt, "Once upon a time");
  assert.equal(gen.options.maxTokens, 128);
  link.emit({ type: "tokens", chunks: [{ id: gen.id, text: " there was", count: 2 }] });
  await until(app.lastFrame, (f) => f.includes("there was") && f.includes("2 tokens…"), "streamed text");
  link.emit({ type: "tokens", chunks: [{ id: gen.id, text: " a cat.", count: 3 }] });
  link.emit({ type: "done", id: gen.id, finishReason: "length", text: " there was a cat.", stats: { ttftMs: 12.3, decodeTokensPerS: 321.5, prefillTokensPerS: 400, promptTokens: 5, generatedTokens: 5 } });
  const f = await until(app.lastFrame, (f) => f.includes("ttft 12 ms"), "cell stats");
  assert.match(f, /Once upon a time/);
  assert.match(f, /there was a cat\./);
  assert.match(f, /321\.5 tokens\/s · prefill 400 t\/s · 5 tokens · length/);
  app.unmount();
});

test("Ctrl+C cancels running generations; with nothing running it clears the line", async () => {
  const { link, app, type } = await setup();
  await type("hello\r");
  const gen = link.last("generate")!;
  await type("\x03");
  assert.deepEqual(link.last("cancel"), { type: "cancel", id: gen.id });
  link.emit({ type: "done", id: gen.id, finishReason: "abort", text: " wor", stats: { ttftMs: 1 } });
  await until(app.lastFrame, (f) => f.includes("stopped"), "stopped cell");
  await type("draft text");
  await until(app.lastFrame, (f) => f.includes("draft text"), "typed text");
  await type("\x03");
  await until(app.lastFrame, (f) => !f.includes("draft text"), "cleared line");
  app.unmount();
});

test(":set validates and :show opens the live settings panel", async () => {
  const { store, app, type } = await setup();
  await type(":set temp 0\r");
  assert.equal(store.get().config["temp"], 0);
  await type(":set top-p 1.5\r");
  await until(app.lastFrame, (f) => f.includes("error: top-p: expected a number above 0 and at most 1, got '1.5'"), "validation error");
  await type(":set nope 1\r");
  await until(app.lastFrame, (f) => f.includes("error: unknown setting 'nope'"), "unknown setting");
  await type(":frobnicate\r");
  await until(app.lastFrame, (f) => f.includes("unknown command ':frobnicate'"), "unknown command");
  await type(":show\r");
  const f = await until(app.lastFrame, (f) => f.includes("(:set KEY VALUE, :show hides)"), "settings panel");
  assert.match(f, /temp\s+0\s+│/);
  assert.match(f, /top-k\s+40 \(default\)/);
  // A 24-row terminal shows the panel a page at a time: PgDn reaches the batching settings.
  assert.match(f, /settings 1-9 of \d+ \(PgUp\/PgDn\)/);
  // PgDn pages forward through the batching settings (which page they are on depends on how many settings come
  // before them); PgUp goes back a page.
  const pageOf = (f: string) => /settings (\d+)-\d+ of/.exec(f)?.[1];
  let frame = f, seen = f;
  for (let i = 0; i < 6 && !/prefix-cache\s+on \(default\)/.test(frame); i++) {
    const page = pageOf(frame);
    await type("\x1b[6~");
    frame = await until(app.lastFrame, (g) => pageOf(g) !== page, "the next page after PgDn");
    seen += frame;
  }
  assert.match(seen, /max-seqs\s+32 \(default\)/);
  assert.match(frame, /prefix-cache\s+on \(default\)/);
  const lastPage = pageOf(frame);
  await type("\x1b[5~");
  await until(app.lastFrame, (g) => Number(pageOf(g)) < Number(lastPage), "the page before after PgUp");
  app.unmount();
});

test(":spec and :exit-early apply from the next prompt; :spec draft without a draft model says what is missing", async () => {
  const { store, app, type } = await setup();
  await type(":spec ngram 5\r");
  await type(":exit-early 3:0.9\r");
  let f = await until(app.lastFrame, (f) => f.includes("exit-early = 3:0.9"), "early exit notice");
  assert.match(f, /spec = ngram \(from the next prompt\)/);
  assert.deepEqual(generateOptionsOf(store.get().config).speculative, { mode: "ngram", k: 5 });
  assert.deepEqual(generateOptionsOf(store.get().config).earlyExit, [{ layer: 3, threshold: 0.9 }]);
  await type(":spec draft\r");
  f = await until(app.lastFrame, (f) => f.includes("no draft model"), "draft notice");
  assert.match(f, /:set draft MODEL, then :load/);
  await type(":set draft stories15M-q4_0.gguf\r");
  await until(app.lastFrame, (f) => f.includes("draft = stories15M-q4_0.gguf (takes effect at the next :load)"), "draft setting");
  app.unmount();
});

test("Tab completes commands, setting keys and file names; Up recalls history", async () => {
  const { app, dir, type } = await setup();
  writeFileSync(path.join(dir, "notes.txt"), "x");
  await type(":sh\t");
  await until(app.lastFrame, (f) => f.includes("› :show"), "completed :show");
  await type("\x15"); // Ctrl+U clears to the start
  await type(":set rep\t");
  await until(app.lastFrame, (f) => f.includes("› :set repeat-") && f.includes("repeat-penalty  repeat-last-n"), "key candidates");
  await type("\x15");
  await type(":ppl no\t");
  await until(app.lastFrame, (f) => f.includes("› :ppl notes.txt"), "file completion");
  await type("\x15");
  await type("first prompt\r");
  await type("\x1b[A");
  await until(app.lastFrame, (f) => f.includes("› first prompt"), "history");
  app.unmount();
});

test("a trailing backslash or Alt+Enter continues the prompt on a new line", async () => {
  const { link, app, type } = await setup();
  await type("line one\\");
  await type("\r");
  await type("line two");
  await type("\x1b\r");
  await type("line three");
  await until(app.lastFrame, (f) => f.includes("› line one\n… line two\n… line three"), "three lines");
  await type("\r");
  assert.equal(link.last("generate")?.prompt, "line one\nline two\nline three");
  app.unmount();
});

test("control keys inside one chunk of input act as keys (tmux, fast typing)", async () => {
  const { link, app, type } = await setup();
  await type("junk\x15Hello\x7fo\r");
  assert.equal(link.last("generate")?.prompt, "Hello");
  await type("more\x03"); // a generation runs: Ctrl+C stops it and keeps the line
  assert.equal(link.last("cancel")?.id, link.last("generate")!.id);
  assert.match(app.lastFrame()!, /› more/);
  app.unmount();
});

test(":parallel N PROMPT runs N streams shown together", async () => {
  const { link, app, type } = await setup();
  await type(":set seed 7\r");
  await type(":parallel 3 Tell me\r");
  const gens = link.sent.filter((r) => r.type === "generate");
  assert.equal(gens.length, 3);
  assert.deepEqual(gens.map((g) => g.options.seed), [7, 8, 9]);
  for (const [i, g] of gens.entries()) link.emit({ type: "tokens", chunks: [{ id: g.id, text: ` stream-${i}`, count: 1 }] });
  const f = await until(app.lastFrame, (f) => f.includes("stream-2"), "three streams");
  assert.match(f, /#1 1 tokens…\n stream-0/);
  assert.match(f, /#3 1 tokens…\n stream-2/);
  app.unmount();
});

test("a corrupt session file gives a clear error", async () => {
  const { app, dir, type } = await setup();
  writeFileSync(path.join(dir, "bad.session"), "this is not msgpack at all");
  await type(":open bad.session\r");
  await until(app.lastFrame, (f) => f.includes("error:") && f.includes("bad.session: not an infer-repl session file"), "session error");
  app.unmount();
});

test("engine failures and load progress are shown", async () => {
  const { link, app, type } = await setup();
  await type(":load big\r");
  link.emit({ type: "progress", phase: "download", received: 2 ** 20, total: 4 * 2 ** 20 });
  await until(app.lastFrame, (f) => f.includes("downloading big ██████░░░░") && f.includes("25% 1.0 / 4.0 MiB"), "progress bar");
  link.emit({ type: "load-failed", message: "'big' is not a file" });
  await until(app.lastFrame, (f) => f.includes("error: cannot load the model: 'big' is not a file"), "load error");
  await type("hi\r");
  link.emit({ type: "failed", id: link.last("generate")!.id, message: "the prompt is too long" });
  await until(app.lastFrame, (f) => f.includes("error: the prompt is too long"), "generation error");
  app.unmount();
});

test("status bar: model, threads, KV blocks as a bar, tokens/s sparkline", () => {
  const state: ReplState = { ...initialState({}), model: MODEL, stats: STATS, rates: [0, 100, 200, 250] };
  const { lastFrame, unmount } = render(h(StatusBar, { state, width: 100 }));
  assert.equal(lastFrame()!.trim(), "stories15M-q8_0.gguf · 2 threads · KV ███░░░░░░░ 25/100 · ▁▄▇█ 250 t/s · idle");
  unmount();
});

test("status bar: the server :serve started, with its requests in flight and answered", () => {
  const state: ReplState = { ...initialState({}), model: MODEL, stats: STATS, rates: [250], server: { url: "http://127.0.0.1:8080", active: 3, served: 41 } };
  assert.equal(statusText(state, 120).trim(), "stories15M-q8_0.gguf · 2 threads · KV ███░░░░░░░ 25/100 · █ 250 t/s · idle · :8080 3 active/41 served");
  const narrow = statusText(state, 100);
  assert.ok(narrow.length <= 100 && narrow.includes(":8080 3 active/41 served"), narrow);
});

test("settings panel shows speculative and early-exit settings with the engine's defaults", () => {
  const { lastFrame, unmount } = render(h(SettingsPanel, { config: { spec: "self:3" }, batching: null }));
  assert.match(lastFrame()!, /spec\s+self:3\s+│/);
  assert.match(lastFrame()!, /spec-k\s+4, ngram 8 \(default\)/);
  unmount();
});

test("cell view: draft acceptance and exit layers appear when the engine reports them", () => {
  const cell = { id: 4, prompt: "p", streams: [{ genId: 1, text: "out", tokens: 9, status: "done" as const, finishReason: "eos",
    stats: { ttftMs: 5, decodeTokensPerS: 100, specAcceptRate: 0.75, earlyExitMeanLayers: 4.5 } }] };
  const { lastFrame, unmount } = render(h(CellView, { cell }));
  assert.match(lastFrame()!, /draft acceptance 75% · exit layer 4\.5 · 9 tokens · eos/);
  unmount();
});
