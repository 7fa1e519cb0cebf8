import type { ExitPoint } from "../earlyexit/options.ts";
import type { KvType } from "../model/model.ts";

/** One configuration the tuner can measure: the engine's load and batching settings and the request's speed-ups. */
export interface TunePoint {
  readonly threads: number;
  readonly maxSeqs: number;
  readonly maxBatchTokens: number;
  readonly maxWaitMs: number;
  readonly kvType: KvType;
  readonly kvBlockSize: number;
  /** Speculative decoding (absent: off). Greedy output is unchanged by it, so it needs no quality check. */
  readonly speculative?: { readonly mode: "ngram" | "draft"; readonly k: number };
  /** Early exit (absent: full depth). It changes outputs: the quality guard checks it. */
  readonly earlyExit?: readonly ExitPoint[];
}

export type TuneTarget = "latency" | "throughput" | "both";

/** What the search may vary, and over which values; a knob left out stays at the starting point's value. */
export interface SearchSpace {
  readonly threads: readonly number[];
  readonly maxSeqs: readonly number[];
  readonly maxBatchTokens: readonly number[];
  readonly maxWaitMs: readonly number[];
  readonly kvType: readonly KvType[];
  readonly kvBlockSize: readonly number[];
  readonly speculative: readonly (TunePoint["speculative"] | undefined)[];
  readonly earlyExit: readonly (readonly ExitPoint[] | undefined)[];
}

/** The knobs in the order the greedy search visits them: the ones that matter most on a CPU first. */
export const KNOBS = ["threads", "maxSeqs", "maxBatchTokens", "kvBlockSize", "kvType", "speculative", "earlyExit", "maxWaitMs"] as const;
export type Knob = (typeof KNOBS)[number];

export interface SpaceFacts {
  readonly cores: number;
  readonly streams: number;
  readonly nLayer: number;
  readonly headDim: number;
  readonly hasDraft: boolean;
  readonly target: TuneTarget;
}

/**
 * The default search space for a machine, model and workload. Early exit is tried at a confident and a looser
 * threshold on the deeper half of the layers (exiting in the first half rarely keeps the quality); batching knobs
 * only matter with several streams, so a latency tune leaves max-seqs and max-wait-ms alone.
 */
export function defaultSpace(f: SpaceFacts): SearchSpace {
  const many = f.target !== "latency" && f.streams > 1;
  const threads = Array.from({ length: Math.max(1, f.cores) }, (_, i) => i + 1);
  const seqs = many ? unique([f.streams, Math.ceil(f.streams / 2), Math.ceil(f.streams / 4)].filter((n) => n >= 1)) : [];
  const exitLayers = Array.from({ length: Math.max(0, f.nLayer - 1 - Math.ceil(f.nLayer / 2)) }, (_, i) => Math.ceil(f.nLayer / 2) + i);
  const exits = exitLayers.length === 0 ? [] : [0.95, 0.8].map((t) => exitLayers.map((layer) => ({ layer, threshold: t })));
  return {
    threads,
    maxSeqs: seqs,
    maxBatchTokens: [128, 256, 512, 1024, 2048],
    maxWaitMs: many ? [0, 2, 10] : [],
    kvType: f.headDim % 32 === 0 ? ["f16", "q8_0", "f32"] : ["f16", "f32"],
    kvBlockSize: [8, 16, 32, 64],
    speculative: [undefined, { mode: "ngram", k: 4 }, { mode: "ngram", k: 8 }, ...(f.hasDraft ? [{ mode: "draft" as const, k: 2 }, { mode: "draft" as const, k: 4 }] : [])],
    earlyExit: [undefined, ...exits],
  };
}

/** The points one knob step away from `p`: each other value of the knob, everything else as in `p`. */
export function neighbours(p: TunePoint, knob: Knob, space: SearchSpace): TunePoint[] {
  const values = space[knob] as readonly unknown[];
  return values.map((v) => withKnob(p, knob, v)).filter((q) => pointKey(q) !== pointKey(p));
}

function withKnob(p: TunePoint, knob: Knob, value: unknown): TunePoint {
  const { [knob]: _old, ...rest } = p;
  return (value === undefined ? rest : { ...rest, [knob]: value }) as TunePoint;
}

/** A stable identity of a point (same settings, same key). */
export function pointKey(p: TunePoint): string {
  return JSON.stringify([p.threads, p.maxSeqs, p.maxBatchTokens, p.maxWaitMs, p.kvType, p.kvBlockSize, p.speculative ?? null, p.earlyExit ?? null]);
}

/** What a point changes in the output: early exit and a lossy KV type do; threads, batching and speculation do not. */
export function changesOutput(p: TunePoint): boolean {
  return p.earlyExit !== undefined || p.kvType === "q8_0";
}

/** A short description of how `p` differs from `base` ("defaults" when it does not). */
export function describePoint(p: TunePoint, base: TunePoint): string {
  const parts: string[] = [];
  if (p.threads !== base.threads) parts.push(`threads ${p.threads}`);
  if (p.maxSeqs !== base.maxSeqs) parts.push(`max-seqs ${p.maxSeqs}`);
  if (p.maxBatchTokens !== base.maxBatchTokens) parts.push(`max-batch-tokens ${p.maxBatchTokens}`);
  if (p.maxWaitMs !== base.maxWaitMs) parts.push(`max-wait-ms ${p.maxWaitMs}`);
  if (p.kvType !== base.kvType) parts.push(`kv ${p.kvType}`);
  if (p.kvBlockSize !== base.kvBlockSize) parts.push(`kv-block ${p.kvBlockSize}`);
  if (JSON.stringify(p.speculative) !== JSON.stringify(base.speculative)) parts.push(p.speculative ? `spec ${p.speculative.mode} k${p.speculative.k}` : "spec off");
  if (JSON.stringify(p.earlyExit) !== JSON.stringify(base.earlyExit)) parts.push(p.earlyExit ? `exit ${exitLabel(p.earlyExit)}` : "exit off");
  return parts.length === 0 ? "defaults" : parts.join(" · ");
}

/** Early exit in short: "L12-23@0.95" for a run of layers with one threshold, else the CLI's "L:T,L:T". */
export function exitLabel(points: readonly ExitPoint[]): string {
  const first = points[0]!, last = points.at(-1)!;
  const run = points.every((q, i) => q.threshold === first.threshold && q.layer === first.layer + i);
  return run && points.length > 1 ? `L${first.layer}-${last.layer}@${first.threshold}` : points.map((q) => `${q.layer}:${q.threshold}`).join(",");
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}
