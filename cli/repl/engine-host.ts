import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { runBenchmark } from "../../core/benchmark.ts";
import type { GenerateOptions } from "../../core/generation.ts";
import { ChatSession, type SavedChat } from "../../core/chat/session.ts";
import { modelTemplate } from "../../core/chat/prompt.ts";
import { compare } from "./compare.ts";
import { Engine, type EngineStats } from "../../core/engine.ts";
import { resolveModel } from "../../core/models/resolve.ts";
import { perplexity } from "../../core/perplexity.ts";
import { tune } from "../../core/tune/search.ts";
import { createServer, type InferServer } from "../../server/app.ts";
import type { Event, Request } from "./protocol.ts";

/**
 * How often streamed text is sent to the UI: one frame. Each message costs the UI thread a React commit, a layout
 * and a redraw (several ms), and on two cores every ms of it is taken from the engine's threads, so the rate is
 * fixed and low (10 frames/s) whatever the token rate; stats ride on these messages while text streams.
 */
const FLUSH_MS = 100;
/** How often a tune's progress is sent. */
const TUNE_PROGRESS_MS = 250;
/** How often engine stats (KV blocks, tokens/s) are sent while work is running. */
const STATS_MS = 250;

/**
 * The engine side of the REPL, run in the worker thread: loads models, runs generations, benchmarks and
 * perplexity, and reports through `send`. Kept apart from the worker wiring so it can be driven directly.
 */
export class EngineHost {
  private engine: Engine | undefined;
  private loading: Promise<void> | undefined;
  private readonly running = new Map<number, AbortController>();
  private readonly pending = new Map<number, { text: string; thinking: string; count: number }>();
  /** Chat mode's conversation with the loaded model (created by its first turn or :open, dropped by :load). */
  private chat: ChatSession | undefined;
  /** The answers of the last chat turn after :parallel N, each on its own fork of the conversation (:keep). */
  private alternatives: ChatSession[] | undefined;
  /** A conversation :open restored before the model it belongs to had loaded. */
  private restored: SavedChat | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  /** When stats were last sent (performance.now()). */
  private statsSent = -Infinity;
  private statsTimer: NodeJS.Timeout | undefined;
  private busy = 0;
  /** The threads setting of the loaded engine (a scoring engine for :ppl uses the same). */
  private threads: number | undefined;
  private server: { http: InferServer; url: string; timer: NodeJS.Timeout } | undefined;
  /** The loaded engine's draft model file (a tune loads its candidates with it). */
  private draftPath: string | undefined;

  constructor(private readonly send: (e: Event) => void) {}

  handle(req: Request): void {
    switch (req.type) {
      case "load": return void this.track(this.load(req));
      case "generate": return void this.track(this.generate(req));
      case "chat": return void this.track(this.chatTurn(req));
      case "chat-keep": return this.keep(req.index);
      case "compare": return void this.track(this.compare(req));
      case "chat-reset": return void this.resetChat();
      case "chat-load": return void this.loadChat(req.saved);
      case "cancel": return this.running.get(req.id)?.abort();
      case "configure": return this.configure(req);
      case "bench": return void this.track(this.bench(req));
      case "ppl": return void this.track(this.ppl(req));
      case "tune": return void this.track(this.tune(req));
      case "serve": return void this.serve(req.port);
    }
  }

  /** Counts work in flight so stats are pushed only while something runs. */
  private async track(work: Promise<void>): Promise<void> {
    if (this.busy++ === 0) this.statsTimer = setInterval(() => this.sendStats(), STATS_MS);
    try {
      await work;
    } finally {
      if (--this.busy === 0) clearInterval(this.statsTimer);
      this.sendStats(true);
    }
  }

  /** Sends the engine's stats; on the timer (not `final`), not when a text frame has just brought them. */
  private sendStats(final = false): void {
    if (!this.engine || (!final && performance.now() - this.statsSent < STATS_MS / 2)) return;
    this.statsSent = performance.now();
    this.send({ type: "stats", stats: this.engine.stats() });
  }

  /** The engine's stats when they are due (every STATS_MS), for a text frame to carry. */
  private dueStats(): EngineStats | undefined {
    if (!this.engine || performance.now() - this.statsSent < STATS_MS) return undefined;
    this.statsSent = performance.now();
    return this.engine.stats();
  }

  private async load(req: Extract<Request, { type: "load" }>): Promise<void> {
    const previous = this.loading;
    // Work sent before this load belongs to the old model: it is stopped when the new one replaces it. Work sent
    // after it waits for it (see ready()).
    const superseded = [...this.running.values()];
    const job = (async () => {
      await previous;
      try {
        this.send({ type: "progress", phase: "download", received: 0, total: null });
        const resolve = (model: string | undefined) => resolveModel(model, {
          onProgress: (p) => this.send({ type: "progress", phase: "download", received: p.received, total: p.total ?? null }),
          onNotice: (text) => this.send({ type: "notice", text }),
        });
        const resolved = await resolve(req.model || undefined);
        const draftPath = req.settings.draft === undefined ? undefined : (await resolve(req.settings.draft)).path;
        this.send({ type: "progress", phase: "load", received: 0, total: null });
        // The new engine loads beside the old one, which is replaced only once it has: a load that fails (a bad
        // file, a draft model with another vocabulary) leaves the working model loaded and usable.
        const engine = await Engine.load({
          model: resolved.path, threads: req.settings.threads, contextSize: req.settings.ctxSize,
          kvBlockSize: req.settings.kvBlock, kvType: req.settings.kvType, draftModel: draftPath, ...req.batching,
        });
        const sha256 = await hashFile(resolved.path);
        const template = await modelTemplate(engine.model.file).catch(() => undefined);
        if (this.server) {
          await this.serve(null);
          this.send({ type: "notice", text: "the server stopped: its model was replaced (:serve PORT serves the new one)" });
        }
        for (const c of superseded) c.abort();
        this.engine?.close();
        this.chat = undefined;
        this.engine = engine;
        this.threads = req.settings.threads;
        this.draftPath = draftPath;
        this.send({
          type: "loaded",
          model: {
            path: resolved.path, sha256, name: path.basename(resolved.path), nLayer: engine.model.hparams.nLayer, nVocab: engine.model.hparams.nVocab,
            contextSize: engine.contextSize, headDim: engine.model.hparams.headDim, threads: req.settings.threads ?? availableParallelism(), draftPath,
            chatTemplate: template !== undefined, thinkingSwitch: template?.hasThinkingSwitch ?? false,
          },
          batching: { ...engine.batching },
          stats: engine.stats(),
        });
        for (const text of engine.warnings) this.send({ type: "notice", text });
      } catch (e) {
        this.send({ type: "load-failed", message: (e as Error).message });
      }
    })();
    this.loading = job;
    await job;
  }

  /** The engine once any load in progress has finished; undefined (and an error sent) when there is none. */
  private async ready(id: number): Promise<Engine | undefined> {
    await this.loading;
    if (!this.engine) this.send({ type: "failed", id, message: "no model is loaded (:load MODEL)" });
    return this.engine;
  }

  /**
   * Runs one request that :stop can end: its AbortController is registered under its id while it runs, and an error
   * becomes its "failed" event (after the text already streamed), worded by `describe` (told whether it was stopped).
   */
  private async stoppable(id: number, describe: (e: Error, stopped: boolean) => string, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      await work(controller.signal);
    } catch (e) {
      this.flush();
      this.send({ type: "failed", id, message: describe(e as Error, controller.signal.aborted) });
    } finally {
      this.running.delete(id);
    }
  }

  private async generate(req: Extract<Request, { type: "generate" }>): Promise<void> {
    await this.stoppable(req.id, (e) => e.message, async (signal) => {
      const engine = await this.ready(req.id);
      if (!engine) return;
      const stream = engine.stream(req.prompt, { ...req.options, signal });
      for await (const event of stream) this.queueText(req.id, event.text);
      const result = await stream.result;
      this.flush();
      this.send({ type: "done", id: req.id, finishReason: result.finishReason, text: result.text, stats: numericStats(result.stats) });
    });
  }

  /**
   * One user turn of the conversation: the session renders the model's template and reuses the cached turns;
   * its settings (system prompt, thinking, overflow policy) come with every turn, so :set applies at the next one.
   * Several answers (:parallel N) run on forks of the conversation, batched together, sharing its cached K/V; the
   * conversation goes on from the first unless :keep picks another.
   */
  private async chatTurn(req: Extract<Request, { type: "chat" }>): Promise<void> {
    const controllers = req.ids.map((id) => {
      const c = new AbortController();
      this.running.set(id, c);
      return c;
    });
    try {
      const session = await this.session(req.ids[0]!);
      if (!session) {
        for (const id of req.ids.slice(1)) this.send({ type: "failed", id, message: "no conversation (see the first answer)" });
        return;
      }
      session.systemPrompt = req.chat.system;
      session.enableThinking = req.chat.enableThinking;
      session.contextOverflow = req.chat.contextOverflow;
      session.onContextOverflow = (n) => this.send({
        type: "notice",
        text: `the conversation no longer fits: it needs ${n.neededTokens} prompt tokens + ${n.reserve} for the answer, the context holds ${n.contextSize}; ` +
          `context-overflow ${n.policy} drops ${n.dropped.length} earlier message${n.dropped.length === 1 ? "" : "s"} (${n.keptTokens} prompt tokens left)`,
      });
      const branches = req.ids.length === 1 ? [session] : req.ids.map(() => session.fork());
      this.alternatives = branches.length > 1 ? branches : undefined;
      if (branches.length > 1) this.chat = branches[0];
      await Promise.all(branches.map((branch, i) => this.answer(branch, req.ids[i]!, req.text, req.options[i] ?? {}, controllers[i]!.signal, i === 0)));
    } finally {
      for (const id of req.ids) this.running.delete(id);
    }
  }

  /** Streams one answer of a chat turn; `current` says whether its conversation is the one that goes on. */
  private async answer(session: ChatSession, id: number, text: string, options: Omit<GenerateOptions, "signal">, signal: AbortSignal, current: boolean): Promise<void> {
    try {
      const stream = session.prompt(text, { ...options, signal });
      for await (const e of stream) this.queueText(id, e.part === "answer" ? e.text : "", e.part === "thinking" ? e.text : "", e.token >= 0);
      const r = await stream.result;
      this.flush();
      this.send({
        type: "done", id, finishReason: r.finishReason, text: r.answer, thinking: r.thinking, stats: numericStats(r.stats),
        ...(current ? { conversation: session.save() } : {}),
      });
    } catch (e) {
      this.flush();
      this.send({ type: "failed", id, message: (e as Error).message });
    }
  }

  private async compare(req: Extract<Request, { type: "compare" }>): Promise<void> {
    await this.stoppable(req.id, (e, stopped) => (stopped ? "stopped" : `:compare: ${e.message}`), async (signal) => {
      const { rows, adopt } = await compare(req.a, req.b, req.prompts, async () => (await this.loading, this.engine), signal);
      this.send({ type: "compare-done", id: req.id, rows, labels: req.labels, width: req.width, adopt });
    });
  }

  private keep(index: number): void {
    const chosen = this.alternatives?.[index];
    if (!chosen || chosen.running) {
      this.send({ type: "notice", text: `:keep ${index + 1}: the last chat turn has no finished answer #${index + 1}` });
      return;
    }
    this.chat = chosen;
    this.send({ type: "chat-kept", index, conversation: chosen.save() });
  }

  /** The conversation, created on first use for the loaded model (with a conversation :open restored). */
  private async session(id: number): Promise<ChatSession | undefined> {
    const engine = await this.ready(id);
    if (!engine) return undefined;
    if (!this.chat) {
      try {
        this.chat = await engine.chat();
      } catch (e) {
        this.send({ type: "failed", id, message: `${(e as Error).message} — chat mode needs one (:chat off for plain completion)` });
        return undefined;
      }
      const saved = this.restored;
      this.restored = undefined;
      try {
        if (saved) this.chat.load(saved);
      } catch (e) {
        this.send({ type: "notice", text: `the saved conversation was not restored (a new one starts): ${(e as Error).message}` });
      }
    }
    return this.chat;
  }

  /**
   * :new and :open replace the session object; the next turn starts a fresh one (with the restored conversation).
   * The K/V of the conversation's turns is the engine's, so a restored conversation still finds it in the cache.
   */
  private resetChat(): void {
    this.chat = undefined;
    this.alternatives = undefined;
    this.restored = undefined;
  }

  private loadChat(saved: SavedChat): void {
    this.chat = undefined;
    this.alternatives = undefined;
    this.restored = saved;
  }

  private queueText(id: number, text: string, thinking = "", token = true): void {
    const p = this.pending.get(id);
    if (p) {
      p.text += text;
      p.thinking += thinking;
      if (token) p.count++;
    } else {
      this.pending.set(id, { text, thinking, count: token ? 1 : 0 });
    }
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.size === 0) return;
    const chunks = [...this.pending].map(([id, p]) => ({ id, text: p.text, thinking: p.thinking, count: p.count }));
    this.pending.clear();
    const stats = this.dueStats();
    this.send({ type: "tokens", chunks, ...(stats ? { stats } : {}) });
  }

  private configure(req: Extract<Request, { type: "configure" }>): void {
    if (!this.engine) return;
    try {
      this.engine.configure(req.batching);
      this.send({ type: "configured", batching: { ...this.engine.batching } });
    } catch (e) {
      this.send({ type: "notice", text: `batching not changed: ${(e as Error).message}` });
    }
  }

  private async bench(req: Extract<Request, { type: "bench" }>): Promise<void> {
    await this.stoppable(req.id, (e, stopped) => (stopped ? ":bench stopped" : e.message), async (signal) => {
      const engine = await this.ready(req.id);
      if (!engine) return;
      const result = await runBenchmark(engine, { ...req, signal });
      this.send({ type: "bench-done", id: req.id, result, promptTokens: req.promptTokens, genTokens: req.genTokens });
    });
  }

  private async ppl(req: Extract<Request, { type: "ppl" }>): Promise<void> {
    await this.stoppable(req.id, (e, stopped) => (stopped ? ":ppl stopped" : e.message), async (signal) => {
      const engine = await this.ready(req.id);
      if (!engine) return;
      let text: string;
      try {
        text = readFileSync(req.file, "utf8");
      } catch (e) {
        throw new Error(`${req.file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
      }
      // llama-perplexity's figure is that of the "prompt" arithmetic (each chunk one batch): when the loaded engine
      // computes otherwise, a scoring engine for the chunks is loaded beside it.
      const arithmetic = "prompt";
      const scorer = engine.model.arithmetic === arithmetic && engine.contextSize >= req.ctx ? engine
        : await Engine.load({ model: engine.model.path, threads: this.threads, contextSize: req.ctx, arithmetic });
      try {
        const r = await perplexity(scorer, text, {
          contextSize: req.ctx,
          onChunk: (done, total, ppl) => this.send({ type: "ppl-progress", id: req.id, done, total, ppl }),
          signal,
        });
        this.send({ type: "ppl-done", id: req.id, file: req.file, ...r });
      } finally {
        if (scorer !== engine) scorer.close();
      }
    });
  }

  /**
   * :tune: the search loads its candidates' engines beside the session's (same model file, so the weights' pages are
   * shared) and leaves the session's engine as it was; progress goes to the UI at most every TUNE_PROGRESS_MS.
   */
  private async tune(req: Extract<Request, { type: "tune" }>): Promise<void> {
    await this.stoppable(req.id, (e) => `:tune: ${e.message}`, async (signal) => {
      const engine = await this.ready(req.id);
      if (!engine) return;
      let last = 0;
      const result = await tune({
        ...req.options, model: engine.model.path, ...(this.draftPath !== undefined ? { draftModel: this.draftPath } : {}), signal,
        onProgress: (snapshot) => {
          const now = performance.now();
          if (now - last < TUNE_PROGRESS_MS) return;
          last = now;
          this.send({ type: "tune-progress", id: req.id, snapshot });
        },
      });
      this.send({ type: "tune-done", id: req.id, result });
    });
  }

  /** Starts (or, with null, stops) serving the loaded model; reports the server's requests while it runs. */
  private async serve(port: number | null): Promise<void> {
    const running = this.server;
    this.server = undefined;
    if (running) {
      clearInterval(running.timer);
      await running.http.close();
    }
    if (port === null) {
      this.send({ type: "server", url: null, active: 0, served: 0 });
      return;
    }
    await this.loading;
    const engine = this.engine;
    if (!engine) return this.send({ type: "notice", text: "nothing to serve: no model is loaded (:load MODEL)" });
    const id = path.basename(engine.model.file.path).replace(/\.gguf$/i, "");
    const http = createServer({ models: [{ id, load: async () => engine }], metrics: true, closeEngines: false });
    try {
      const { url } = await http.listen(port);
      const report = () => this.send({ type: "server", url, ...http.activity() });
      this.server = { http, url, timer: setInterval(report, STATS_MS) };
      report();
    } catch (e) {
      await http.close();
      this.send({ type: "notice", text: `cannot serve on port ${port}: ${(e as Error).message}` });
    }
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The scalar stats a cell shows (drops lists such as the early-exit histogram). */
function numericStats(stats: object): Record<string, number> {
  return Object.fromEntries(Object.entries(stats).filter((e): e is [string, number] => typeof e[1] === "number"));
}
