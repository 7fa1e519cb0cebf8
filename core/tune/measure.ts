import { setMaxListeners } from "node:events";
import type { Engine } from "../engine.ts";
import type { GenerateOptions } from "../generation.ts";

/** One run of the workload under one configuration. */
export interface WorkloadFigures {
  /** Generated tokens of all streams over the wall time from submitting them to the last one finishing. */
  readonly tokensPerS: number;
  /** Time to first token, median over the streams. */
  readonly ttftMs: number;
  /** Per-token latency after the first token, median over the streams. */
  readonly msPerToken: number;
  /** 99th percentile of the gaps between consecutive tokens of a stream, over all streams. */
  readonly p99Ms: number;
  readonly wallMs: number;
}

export interface WorkloadRun {
  /** Tokenized prompts; stream i runs prompts[i % length]. */
  readonly prompts: readonly Int32Array[];
  readonly streams: number;
  readonly genTokens: number;
  /** Request settings of the configuration (speculation, early exit). */
  readonly request?: Pick<GenerateOptions, "speculative" | "earlyExit">;
  readonly signal?: AbortSignal;
}

/**
 * Runs the workload once: `streams` greedy generations of exactly `genTokens` tokens (EOS ignored, so every
 * configuration does the same work), all submitted at once so the engine batches them as it would a burst of
 * users. Token times are taken as the stream events arrive.
 */
export async function runWorkload(engine: Engine, w: WorkloadRun): Promise<WorkloadFigures> {
  // One listener on the caller's signal instead of one per stream (node warns beyond ten on one signal).
  const inner = new AbortController();
  const forward = () => inner.abort(w.signal!.reason);
  if (w.signal?.aborted) forward();
  w.signal?.addEventListener("abort", forward, { once: true });
  setMaxListeners(w.streams + 8, inner.signal);
  const t0 = performance.now();
  const perStream = await Promise.all(Array.from({ length: w.streams }, async (_, i) => {
    const stream = engine.stream(w.prompts[i % w.prompts.length]!, {
      ...w.request, temperature: 0, ignoreEos: true, maxTokens: w.genTokens, signal: inner.signal,
    });
    const times: number[] = [];
    for await (const e of stream) if (e.token >= 0) times.push(performance.now());
    await stream.result;
    return times;
  })).finally(() => w.signal?.removeEventListener("abort", forward));
  w.signal?.throwIfAborted();
  const end = Math.max(...perStream.map((t) => t.at(-1) ?? t0));
  const tokens = perStream.reduce((a, t) => a + t.length, 0);
  const gaps = perStream.flatMap((t) => t.slice(1).map((x, i) => x - t[i]!));
  return {
    tokensPerS: end > t0 ? (tokens / (end - t0)) * 1000 : 0,
    ttftMs: median(perStream.filter((t) => t.length > 0).map((t) => t[0]! - t0)),
    msPerToken: median(perStream.filter((t) => t.length > 1).map((t) => (t.at(-1)! - t[0]!) / (t.length - 1))),
    p99Ms: percentile(gaps, 0.99),
    wallMs: end - t0,
  };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The q-quantile by the nearest-rank method (NaN for no samples). */
export function percentile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
