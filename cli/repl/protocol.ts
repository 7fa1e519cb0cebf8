import { Packr } from "msgpackr";
import type { BatchingOptions } from "../../core/scheduler/scheduler.ts";
import type { EngineStats } from "../../core/engine.ts";
import type { GenerateOptions } from "../../core/generation.ts";
import type { BenchmarkResult } from "../../core/benchmark.ts";
import type { SavedChat } from "../../core/chat/session.ts";
import type { Adoptable, CompareRow, CompareSide } from "./compare.ts";
import type { ChatSettings, LoadSettings } from "./config.ts";
import type { TuneOptions, TuneResult, TuneSnapshot } from "../../core/tune/search.ts";

/** What :tune sends: the tune's options less what the engine side knows (the model, the draft) or owns (signal, callback). */
export type TuneRequest = Omit<TuneOptions, "model" | "draftModel" | "signal" | "onProgress" | "space">;

/**
 * Messages between the UI (main thread) and the engine worker, sent as MessagePack bytes. Requests that start work
 * carry an id chosen by the UI; every event about that work carries it back. Token text is batched per ~16 ms per
 * generation so a fast model does not flood the UI with one message per token.
 */
export type Request =
  | { type: "load"; model: string; settings: LoadSettings; batching: Partial<BatchingOptions> }
  | { type: "generate"; id: number; prompt: string; options: Omit<GenerateOptions, "signal"> }
  /**
   * A user turn of the engine side's conversation (chat mode): one answer per id (several after :parallel N,
   * each with its options, e.g. its seed). The conversation goes on from the first until :keep picks another.
   */
  | { type: "chat"; ids: number[]; text: string; options: Omit<GenerateOptions, "signal">[]; chat: ChatSettings }
  /** :compare: both sides on the same prompts. */
  | { type: "compare"; id: number; a: CompareSide; b: CompareSide; prompts: string[]; labels: [string, string]; width: number }
  /** :keep K: the conversation goes on from answer K (0-based) of the last turn. */
  | { type: "chat-keep"; index: number }
  /** :new starts a conversation; :open restores one. */
  | { type: "chat-reset" }
  | { type: "chat-load"; saved: SavedChat }
  | { type: "cancel"; id: number }
  | { type: "configure"; batching: Partial<BatchingOptions> }
  | { type: "bench"; id: number; promptTokens: number; genTokens: number; repetitions: number; parallel: number[] }
  | { type: "ppl"; id: number; file: string; ctx: number }
  /** :tune: searches configurations of the loaded model on the workload (core/tune); cancel stops it, keeping the best. */
  | { type: "tune"; id: number; options: TuneRequest }
  /** Serve the loaded model over HTTP on 127.0.0.1:port (the OpenAI API of `infer-repl serve`); null stops it. */
  | { type: "serve"; port: number | null };

export interface ModelInfo {
  readonly path: string;
  readonly sha256: string;
  readonly name: string;
  readonly nLayer: number;
  readonly nVocab: number;
  readonly contextSize: number;
  /** Elements per attention head (q8_0 KV needs a multiple of 32). */
  readonly headDim: number;
  readonly threads: number;
  /** The draft model's file, when one was loaded for speculative decoding. */
  readonly draftPath?: string;
  /** The model has a chat template (chat mode is on by default), and it has an enable_thinking switch. */
  readonly chatTemplate?: boolean;
  readonly thinkingSwitch?: boolean;
}

/** Numbers a finished generation reports (GenerationStats's scalars, with specAcceptRate and earlyExitMeanLayers when used). */
export type CellStats = Record<string, number>;

export type Event =
  | { type: "progress"; phase: "download" | "load"; received: number; total: number | null }
  | { type: "notice"; text: string }
  | { type: "loaded"; model: ModelInfo; batching: BatchingOptions; stats: EngineStats }
  | { type: "load-failed"; message: string }
  /** Streamed text per generation; `thinking` is a chat turn's think-block text, apart from its answer. */
  /** One frame of streamed text (every stream's since the last), with the engine's stats when they are due. */
  | { type: "tokens"; chunks: { id: number; text: string; thinking?: string; count: number }[]; stats?: EngineStats }
  /** A chat turn's result also carries its thinking and the conversation after it (what :save stores). */
  | { type: "done"; id: number; finishReason: string; text: string; stats: CellStats; thinking?: string; conversation?: SavedChat }
  | { type: "failed"; id: number; message: string }
  | { type: "configured"; batching: BatchingOptions }
  | { type: "compare-done"; id: number; rows: CompareRow[]; labels: [string, string]; width: number; adopt: [Adoptable | null, Adoptable | null] }
  /** After :keep: the conversation as it now stands. */
  | { type: "chat-kept"; index: number; conversation: SavedChat }
  | { type: "stats"; stats: EngineStats }
  | { type: "bench-done"; id: number; result: BenchmarkResult; promptTokens: number; genTokens: number }
  | { type: "ppl-progress"; id: number; done: number; total: number; ppl: number }
  | { type: "ppl-done"; id: number; ppl: number; chunks: number; tokensScored: number; file: string }
  | { type: "tune-progress"; id: number; snapshot: TuneSnapshot }
  | { type: "tune-done"; id: number; result: TuneResult }
  /** The server the REPL started: its address (null once stopped) and its requests in flight and answered. */
  | { type: "server"; url: string | null; active: number; served: number };

// Plain maps (no record extension) so both ends need no shared structure state.
const packr = new Packr({ useRecords: false });

/** Encodes a message into its own exactly-sized buffer, safe to transfer (msgpackr reuses its output buffer). */
export function encode(message: Request | Event): Uint8Array<ArrayBuffer> {
  return new Uint8Array(packr.pack(message));
}

export function decode<T extends Request | Event>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
