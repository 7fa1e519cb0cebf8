import type { SavedChat } from "../../core/chat/session.ts";
import type { EngineStats } from "../../core/engine.ts";
import type { BatchingOptions } from "../../core/scheduler/scheduler.ts";
import type { SessionCell } from "../session/session-file.ts";
import { compareTable, type Adoptable } from "./compare.ts";
import { thinkDisplayOf, type ReplConfig } from "./config.ts";
import { thinkingView } from "./components/thinking-view.ts";
import type { CellStats, Event, ModelInfo } from "./protocol.ts";
import { measuredUnder } from "./export-recipe.ts";
import { wrapMore } from "./wrap.ts";
import type { TuneResult, TuneSnapshot } from "../../core/tune/search.ts";
import { tuneSummary, tuneTable } from "../tune-table.ts";

/** One generation stream of a cell (a cell has several after :parallel N). */
export interface Stream {
  readonly genId: number;
  readonly text: string;
  readonly tokens: number;
  readonly status: "running" | "done" | "stopped" | "error";
  /** A chat turn's thinking (a reasoning model's think block), streamed apart from its answer (text). */
  readonly thinking?: string;
  readonly finishReason?: string;
  readonly stats?: CellStats;
  readonly error?: string;
}

export interface Cell {
  readonly id: number;
  readonly prompt: string;
  /** A user turn of chat mode (its streams are assistant turns). */
  readonly chat?: boolean;
  readonly streams: readonly Stream[];
  /** The configuration it ran under (see measuredUnder); absent for cells opened from a session. */
  readonly measuredUnder?: string;
}

export type NoticeTone = "info" | "error" | "warn";

/**
 * Everything printed above the live area, in order; it only grows (rendered with Ink's <Static>). A cell of one
 * stream is printed as it streams: its head (number and prompt), its text a few complete lines at a time, then its
 * foot (stats); a cell of several streams, or one opened from a session, is printed whole.
 */
export type TranscriptItem =
  | { readonly kind: "cell"; readonly key: string; readonly cell: Cell }
  | { readonly kind: "cell-head"; readonly key: string; readonly cell: Cell }
  | { readonly kind: "lines"; readonly key: string; readonly text: string }
  /** A chat turn's thinking as :think showed it when its answer began (dimmed). */
  | { readonly kind: "thought"; readonly key: string; readonly text: string }
  | { readonly kind: "cell-foot"; readonly key: string; readonly cell: Cell }
  | { readonly kind: "notice"; readonly key: string; readonly tone: NoticeTone; readonly text: string };

/**
 * The cell whose text is going to the scrollback as it streams (the oldest running cell, when it has one stream):
 * how much of its text has been wrapped, and the unfinished last line, which the live area shows.
 */
export interface Printing {
  readonly cellId: number;
  readonly wrapped: number;
  readonly rest: string;
  /** A chat turn's thinking was printed (it is printed once, when its answer begins or the turn ends). */
  readonly thought?: boolean;
}

export interface Job {
  readonly id: number;
  readonly label: string;
  readonly progress?: { done: number; total: number };
  /** The configuration a :bench runs under, the model file a :ppl scores (see measuredUnder). */
  readonly measuredUnder?: string;
}

export interface LoadState {
  readonly model: string;
  readonly phase: "download" | "load";
  readonly received: number;
  readonly total: number | null;
}

export interface MeasuredFigures {
  readonly bench?: {
    pp: number; tg: number; ppTokensPerS: number; tgTokensPerS: number; parallel: { n: number; tokensPerS: number }[]; measuredUnder?: string;
  };
  /** The last :ppl, with the sha256 of the model it scored. */
  readonly ppl?: { file: string; ppl: number; chunks: number; sha256?: string };
}

export interface ReplState {
  readonly config: ReplConfig;
  /** Finished cells, the notebook that :save writes. */
  readonly cells: readonly Cell[];
  /** Cells still generating. */
  readonly active: readonly Cell[];
  readonly transcript: readonly TranscriptItem[];
  readonly model: ModelInfo | null;
  readonly batching: BatchingOptions | null;
  readonly stats: EngineStats | null;
  /** Recent tokens/s samples for the sparkline. */
  readonly rates: readonly number[];
  readonly loading: LoadState | null;
  readonly jobs: readonly Job[];
  readonly showSettings: boolean;
  readonly measured: MeasuredFigures;
  readonly createdAt: string;
  /** Transcript keys must be unique forever, even across :clear. */
  readonly serial: number;
  /** The number the next cell gets. */
  readonly nextCell: number;
  /** Columns the generated text is wrapped to (the terminal's width less one, for the cursor). */
  readonly width: number;
  readonly printing: Printing | null;
  /** The last :compare's sides, for :keep A|B (null for a side that is the current settings). */
  readonly compared?: { readonly labels: [string, string]; readonly adopt: [Adoptable | null, Adoptable | null] };
  /** Chat mode's conversation after its last turn, as the engine side saved it (what :save stores). */
  readonly conversation: SavedChat | null;
  /** The HTTP server :serve started, with its live request counts. */
  readonly server: { readonly url: string; readonly active: number; readonly served: number } | null;
  /** The running :tune's latest progress. */
  readonly tuning?: { readonly id: number; readonly snapshot: TuneSnapshot };
  /**
   * The last finished :tune, with the configuration it started from (see measuredUnder): while the session is
   * still under it, or under the tuned point once :keep tuned adopted it, :export recipe writes the tuned point.
   */
  readonly tuned?: { readonly result: TuneResult; readonly measuredUnder: string | undefined };
}

export function initialState(config: ReplConfig, now = new Date()): ReplState {
  return {
    config, cells: [], active: [], transcript: [], model: null, batching: null, stats: null, rates: [],
    loading: null, jobs: [], showSettings: false, measured: {}, createdAt: now.toISOString(), serial: 0,
    nextCell: 1, width: 79, printing: null, conversation: null, server: null,
  };
}

const RATE_SAMPLES = 40;

export type Action =
  | { type: "engine"; event: Event }
  | { type: "notice"; tone: NoticeTone; text: string }
  | { type: "config"; config: ReplConfig }
  | { type: "start-cell"; prompt: string; genIds: readonly number[]; chat?: boolean }
  | { type: "resize"; columns: number }
  | { type: "start-load"; model: string }
  | { type: "start-job"; job: Job }
  /** :keep tuned adopted the tuned point: the session's configuration is now `measuredUnder`. */
  | { type: "tuned-adopted"; measuredUnder: string | undefined }
  | { type: "toggle-settings" }
  | { type: "clear-cells" }
  | { type: "new-conversation" }
  | { type: "open-session"; config: ReplConfig; cells: readonly Cell[]; createdAt: string; file: string; conversation?: SavedChat };

function notice(s: ReplState, tone: NoticeTone, text: string): ReplState {
  return { ...s, transcript: [...s.transcript, { kind: "notice", key: `n${s.serial}`, tone, text }], serial: s.serial + 1 };
}

type Unkeyed<T> = T extends TranscriptItem ? Omit<T, "key"> : never;

function print(s: ReplState, ...items: Unkeyed<TranscriptItem>[]): ReplState {
  const keyed = items.map((item, i) => ({ ...item, key: `t${s.serial + i}` }) as TranscriptItem);
  return { ...s, transcript: [...s.transcript, ...keyed], serial: s.serial + keyed.length };
}

export function reduce(s: ReplState, a: Action): ReplState {
  switch (a.type) {
    case "notice": return notice(s, a.tone, a.text);
    case "config": return { ...s, config: a.config };
    case "start-cell": {
      const under = measuredUnder(s);
      const cell: Cell = {
        id: s.nextCell, prompt: a.prompt, streams: a.genIds.map((genId) => ({ genId, text: "", tokens: 0, status: "running" })),
        ...(a.chat ? { chat: true } : {}),
        ...(under !== undefined ? { measuredUnder: under } : {}),
      };
      return settle({ ...s, active: [...s.active, cell], nextCell: s.nextCell + 1 });
    }
    case "resize": return { ...s, width: Math.max(10, a.columns - 1) };
    case "start-load": return { ...s, loading: { model: a.model, phase: "download", received: 0, total: null } };
    case "start-job": return { ...s, jobs: [...s.jobs, a.job] };
    case "tuned-adopted": return s.tuned ? { ...s, tuned: { ...s.tuned, measuredUnder: a.measuredUnder } } : s;
    case "toggle-settings": return { ...s, showSettings: !s.showSettings };
    case "clear-cells": return notice({ ...s, cells: [] }, "info", "cells cleared");
    case "new-conversation": return notice({ ...s, conversation: null }, "info", "a new conversation starts (the system prompt and settings stay)");
    case "open-session": {
      const nextCell = Math.max(s.nextCell, ...a.cells.map((c) => c.id + 1));
      let next: ReplState = { ...s, config: a.config, cells: a.cells, createdAt: a.createdAt, nextCell, conversation: a.conversation ?? null };
      const turns = a.conversation ? a.conversation.messages.filter((m) => m.role === "user").length : 0;
      next = notice(next, "info", `opened ${a.file}: ${a.cells.length} cell${a.cells.length === 1 ? "" : "s"}` +
        (a.conversation ? `, a conversation of ${turns} turn${turns === 1 ? "" : "s"} (the next chat cell continues it)` : ""));
      const items = a.cells.map((cell, i): TranscriptItem => ({ kind: "cell", key: `c${next.serial + i}`, cell }));
      return { ...next, transcript: [...next.transcript, ...items], serial: next.serial + items.length };
    }
    case "engine": return onEngineEvent(s, a.event);
  }
}

function onEngineEvent(s: ReplState, e: Event): ReplState {
  switch (e.type) {
    case "progress":
      return s.loading ? { ...s, loading: { ...s.loading, phase: e.phase, received: e.received, total: e.total } } : s;
    case "notice": return notice(s, "warn", e.text);
    case "loaded":
      return notice({ ...s, loading: null, model: e.model, batching: e.batching, stats: e.stats },
        "info", `loaded ${e.model.path} (${e.model.nLayer} layers, vocab ${e.model.nVocab}, context ${e.model.contextSize}` +
        `${e.model.draftPath ? `; draft ${e.model.draftPath}` : ""})`);
    case "load-failed": return notice({ ...s, loading: null }, "error", `cannot load the model: ${e.message}`);
    case "tokens": {
      const byId = new Map(e.chunks.map((c) => [c.id, c]));
      if (e.stats) s = withStats(s, e.stats);
      return updateStreams(s, (st) => {
        const c = byId.get(st.genId);
        return c ? { ...st, text: st.text + c.text, tokens: st.tokens + c.count, ...(c.thinking ? { thinking: (st.thinking ?? "") + c.thinking } : {}) } : st;
      });
    }
    case "done":
      return updateStreams({ ...s, conversation: e.conversation ?? s.conversation }, (st) => st.genId !== e.id ? st : {
        ...st, text: e.text, status: e.finishReason === "abort" ? "stopped" : "done", finishReason: e.finishReason, stats: e.stats,
        ...(e.thinking ? { thinking: e.thinking } : {}),
      });
    case "failed": {
      if (s.jobs.some((j) => j.id === e.id)) {
        const ended = endJob(s, e.id);
        const { tuning: _failed, ...rest } = ended;
        return notice(s.tuning?.id === e.id ? rest : ended, "error", e.message);
      }
      return updateStreams(s, (st) => (st.genId !== e.id ? st : { ...st, status: "error", error: e.message }));
    }
    case "configured": return { ...s, batching: e.batching };
    case "compare-done":
      return notice({ ...endJob(s, e.id), compared: { labels: e.labels, adopt: e.adopt } }, "info", compareTable(e.labels, e.rows, e.width) + "\n:keep A or :keep B adopts one side's settings");
    case "chat-kept": return notice({ ...s, conversation: e.conversation }, "info", `kept answer #${e.index + 1}: the conversation goes on from it`);
    case "server": {
      if (e.url === null) return s.server ? notice({ ...s, server: null }, "info", `stopped serving ${s.server.url}`) : s;
      const next = { ...s, server: { url: e.url, active: e.active, served: e.served } };
      return s.server?.url === e.url ? next : notice(next, "info", `serving the model at ${e.url}/v1 (OpenAI API; :serve off stops it)`);
    }
    case "stats": return withStats(s, e.stats);
    case "bench-done": {
      const r = e.result;
      const under = s.jobs.find((j) => j.id === e.id)?.measuredUnder;
      const bench = { pp: e.promptTokens, tg: e.genTokens, ppTokensPerS: r.ppTokensPerS, tgTokensPerS: r.tgTokensPerS, parallel: r.parallel, measuredUnder: under };
      const lines = [`bench: pp${e.promptTokens} ${r.ppTokensPerS.toFixed(1)} t/s · tg${e.genTokens} ${r.tgTokensPerS.toFixed(1)} t/s`,
        ...r.parallel.map((p) => `  parallel ${p.n}: ${p.tokensPerS.toFixed(1)} t/s aggregate decode`)];
      return notice({ ...endJob(s, e.id), measured: { ...s.measured, bench } }, "info", lines.join("\n"));
    }
    case "tune-progress":
      return { ...s, tuning: { id: e.id, snapshot: e.snapshot }, jobs: s.jobs.map((j) => (j.id === e.id ? { ...j, progress: { done: Math.round(e.snapshot.progress * 100), total: 100 } } : j)) };
    case "tune-done": {
      const under = s.jobs.find((j) => j.id === e.id)?.measuredUnder;
      const { tuning: _done, ...rest } = endJob(s, e.id);
      const keep = e.result.best.key === e.result.base.key ? "the starting configuration stays best" : ":keep tuned adopts it";
      return notice({ ...rest, tuned: { result: e.result, measuredUnder: under } }, "info",
        `${tuneTable(e.result).split("\n").map((l) => l.slice(0, s.width)).join("\n")}\n${tuneSummary(e.result)}\n${keep}; :export recipe FILE.ts writes it with these figures`);
    }
    case "ppl-progress":
      return { ...s, jobs: s.jobs.map((j) => (j.id === e.id ? { ...j, progress: { done: e.done, total: e.total } } : j)) };
    case "ppl-done":
      return notice({ ...endJob(s, e.id), measured: { ...s.measured, ppl: { file: e.file, ppl: e.ppl, chunks: e.chunks, sha256: s.jobs.find((j) => j.id === e.id)?.measuredUnder } } },
        "info", `perplexity of ${e.file}: ${e.ppl.toFixed(4)} (${e.chunks} chunks, ${e.tokensScored} tokens scored)`);
  }
}

function withStats(s: ReplState, stats: EngineStats): ReplState {
  return { ...s, stats, rates: [...s.rates, stats.tokensPerS].slice(-RATE_SAMPLES) };
}

function endJob(s: ReplState, id: number): ReplState {
  return { ...s, jobs: s.jobs.filter((j) => j.id !== id) };
}

/** Applies a change to every stream of the running cells, then prints what that made ready (see settle). */
function updateStreams(s: ReplState, f: (st: Stream) => Stream): ReplState {
  return settle({ ...s, active: s.active.map((cell) => ({ ...cell, streams: cell.streams.map(f) })) });
}

const ended = (cell: Cell) => cell.streams.every((st) => st.status !== "running");

/**
 * Prints the running cells into the transcript in the order they started. The oldest cell, when it has one stream,
 * is printed as it streams (head, complete lines, foot); a cell of several streams is printed whole once they have
 * all ended. Later cells wait in the live area until every earlier one is printed, so cells never interleave.
 * Printed cells move into the notebook.
 */
function settle(s: ReplState): ReplState {
  for (;;) {
    const head = s.active[0];
    if (!head) return s.printing ? { ...s, printing: null } : s;
    if (head.streams.length > 1) {
      if (!ended(head)) return s;
      s = print({ ...s, active: s.active.slice(1), cells: [...s.cells, head] }, { kind: "cell", cell: head });
      continue;
    }
    let printing = s.printing;
    if (printing?.cellId !== head.id) {
      s = print(s, { kind: "cell-head", cell: head });
      printing = { cellId: head.id, wrapped: 0, rest: "" };
    }
    const st = head.streams[0]!;
    if (!printing.thought && st.thinking && (st.text !== "" || st.status !== "running")) {
      const thought = thinkingView(st, thinkDisplayOf(s.config), s.width);
      if (thought) s = print(s, { kind: "thought", text: thought.text });
      printing = { ...printing, thought: true };
    }
    const { lines, rest } = wrapMore(printing.rest, st.text.slice(printing.wrapped), s.width);
    if (st.status === "running") {
      if (lines.length > 0) s = print(s, { kind: "lines", text: lines.join("\n") });
      return { ...s, printing: { ...printing, cellId: head.id, wrapped: st.text.length, rest } };
    }
    const all = rest === "" ? lines : [...lines, rest];
    s = all.length > 0 ? print(s, { kind: "lines", text: all.join("\n") }, { kind: "cell-foot", cell: head }) : print(s, { kind: "cell-foot", cell: head });
    s = { ...s, active: s.active.slice(1), cells: [...s.cells, head], printing: null };
  }
}

/** Generation ids of every stream still running (what Ctrl+C cancels). */
export function runningIds(s: ReplState): number[] {
  return s.active.flatMap((c) => c.streams.filter((st) => st.status === "running").map((st) => st.genId));
}

const STATUS_CODES = ["done", "stopped", "error"] as const;

/**
 * Cells as the session file stores them: one SessionCell per stream; the stream's place, its status and finish
 * reason ride along in the numeric stats (`stream`, `streams`, `status`, `finish`) so :open rebuilds the same cells.
 */
export function toSessionCells(cells: readonly Cell[]): SessionCell[] {
  return cells.flatMap((cell) => cell.streams.map((st, i) => ({
    prompt: cell.prompt,
    output: st.status === "error" ? (st.error ?? "") : st.text,
    ...(st.thinking ? { thinking: st.thinking } : {}),
    stats: {
      ...(st.stats ?? {}), stream: i, streams: cell.streams.length, tokens: st.tokens, ...(cell.chat ? { chat: 1 } : {}),
      status: STATUS_CODES.indexOf(st.status as (typeof STATUS_CODES)[number]),
      finish: FINISH_REASONS.indexOf(st.finishReason ?? ""),
    },
  })));
}

const FINISH_REASONS = ["eos", "length", "stop", "abort", "error"];

export function fromSessionCells(saved: readonly SessionCell[], firstId: number): Cell[] {
  const cells: Cell[] = [];
  for (let i = 0; i < saved.length;) {
    const n = Math.max(1, Math.min(saved[i]!.stats["streams"] ?? 1, saved.length - i));
    const group = saved.slice(i, i + n);
    const chat = group[0]!.stats["chat"] === 1;
    cells.push({ id: firstId + cells.length, prompt: group[0]!.prompt, ...(chat ? { chat } : {}), streams: group.map(toStream) });
    i += n;
  }
  return cells;
}

function toStream(c: SessionCell): Stream {
  const { stream: _stream, streams: _streams, tokens, status, finish, chat: _chat, ...stats } = c.stats;
  const st = STATUS_CODES[status ?? 0] ?? "done";
  const finishReason = FINISH_REASONS[finish ?? -1];
  return {
    genId: -1, text: st === "error" ? "" : c.output, tokens: tokens ?? 0, status: st, ...(c.thinking ? { thinking: c.thinking } : {}),
    ...(finishReason !== undefined ? { finishReason } : {}),
    ...(Object.keys(stats).length > 0 ? { stats } : {}),
    ...(st === "error" ? { error: c.output } : {}),
  };
}
