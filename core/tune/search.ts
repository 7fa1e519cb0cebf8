import { availableParallelism } from "node:os";
import { native } from "../native.ts";
import { Engine } from "../engine.ts";
import { median, runWorkload, type WorkloadFigures } from "./measure.ts";
import { QualityGuard, type QualityVerdict } from "./quality.ts";
import { changesOutput, defaultSpace, describePoint, KNOBS, neighbours, pointKey, type Knob, type SearchSpace, type TunePoint, type TuneTarget } from "./space.ts";

export interface TuneOptions {
  model: string;
  draftModel?: string;
  /** The workload: prompts, run `streams` at once (stream i runs prompt i mod length). */
  prompts: readonly string[];
  target: TuneTarget;
  /** Concurrent streams of a throughput tune (a latency tune runs one). */
  streams: number;
  /** With target "both": the bound on the 99th percentile inter-token latency a configuration must keep (ms). */
  p99BoundMs?: number;
  /** Wall-clock budget of the whole search (ms); it stops starting measurements that would not end in time. */
  budgetMs: number;
  /** When the budget started (performance.now() time; default: now). A command passes its own start. */
  startedAt?: number;
  /** Tokens generated per stream and measurement (default: sized so one measurement is ~1/60 of the budget). */
  genTokens?: number;
  /** Largest perplexity rise over the exact configuration a candidate may cause (0.01 = +1%). */
  maxPplRise: number;
  /** Text the quality guard scores (default: the prompts with the exact configuration's greedy continuations). */
  qualityText?: string;
  /** The starting point: the configuration in use, against which the result is confirmed. */
  base: TunePoint;
  space?: SearchSpace;
  contextSize?: number;
  kvMemoryMiB?: number;
  /** Measurement rounds per candidate before it is adopted (default 3). */
  rounds?: number;
  /** Stops the search; the result is then the best configuration so far. */
  signal?: AbortSignal;
  onProgress?: (s: TuneSnapshot) => void;
}

export type RowStatus = "queued" | "measuring" | "measured" | "dropped" | "rejected" | "infeasible" | "failed";

export interface CandidateRow {
  readonly key: string;
  readonly point: TunePoint;
  /** How the point differs from the base ("defaults" for the base). */
  readonly label: string;
  status: RowStatus;
  /** Medians of the row's measurements. */
  figures?: WorkloadFigures;
  samples: WorkloadFigures[];
  /** Median over rounds of score(candidate) / score(the incumbent measured in the same round). */
  ratio?: number;
  quality?: QualityVerdict;
  note?: string;
}

export interface TuneSnapshot {
  readonly rows: readonly CandidateRow[];
  readonly base: CandidateRow;
  readonly best: CandidateRow;
  /** 0..1 */
  readonly progress: number;
  readonly elapsedMs: number;
  readonly leftMs: number;
  readonly phase: string;
  readonly genTokens: number;
  readonly done: boolean;
  readonly stopped: boolean;
}

export interface TuneResult extends TuneSnapshot {
  /** Candidates no other beats on both throughput and latency (latency: TTFT for a latency tune, else p99). */
  readonly pareto: readonly CandidateRow[];
  /** The chosen point against the base in alternating rounds at the end: median ratio of the scores. */
  readonly confirm?: {
    readonly ratio: number;
    readonly rounds: number;
    /** Medians of the confirmation rounds, measured side by side (the figures to quote: same time, same load). */
    readonly base: WorkloadFigures;
    readonly best: WorkloadFigures;
    /** Whether the chosen point passed (else the base was kept). */
    readonly kept: boolean;
  };
  readonly settings: TuneSettings;
}

/** The search's settings, as an exported recipe quotes them. */
export interface TuneSettings {
  readonly target: TuneTarget;
  readonly streams: number;
  readonly p99BoundMs?: number;
  readonly budgetMs: number;
  readonly genTokens: number;
  readonly prompts: number;
  readonly maxPplRise: number;
  readonly rounds: number;
  readonly knobs: readonly Knob[];
}

/** A candidate is dropped after its first round when this much slower than the incumbent (early stopping). */
const HOPELESS = 0.85;
const CONFIRM_ROUNDS = 7;
const MIN_CONFIRM_ROUNDS = 3;
/** Adopted only when the median ratio beats the incumbent by this much: smaller gains are within the noise. */
const MIN_GAIN = 0.02;

/**
 * Auto-tuning: a greedy search over one knob at a time (threads, max-seqs, max-batch-tokens, KV block size and
 * type, speculation, early exit, max-wait-ms), each knob's values raced by successive halving against the current
 * best in alternating rounds (the incumbent is measured in every round and each candidate scored by its ratio to
 * it, the median of the per-round ratios deciding, as bench/ does on this noisy machine). Hopeless candidates stop
 * after one round; candidates that change outputs are first checked by the quality guard. When the budget allows,
 * the chosen point is confirmed against the base in alternating rounds and dropped unless 2% faster.
 */
export async function tune(o: TuneOptions): Promise<TuneResult> {
  return new Tuner(o).run();
}

class Tuner {
  private readonly t0: number;
  private readonly rows = new Map<string, CandidateRow>();
  private readonly engines = new Map<string, Promise<Engine>>();
  private readonly warm = new Set<string>();
  private readonly rounds: number;
  private readonly streams: number;
  private space: SearchSpace | undefined;
  private prompts: Int32Array[] = [];
  private genTokens = 16;
  private measureMs: number[] = [];
  private phase = "starting";
  private knobIndex = 0;
  private incumbent: CandidateRow;
  private readonly baseRow: CandidateRow;
  private stopped = false;
  private outOfTime = false;

  constructor(private readonly o: TuneOptions) {
    this.t0 = o.startedAt ?? performance.now();
    if (o.prompts.length === 0 || o.prompts.every((p) => p.trim() === "")) throw new RangeError("tune: the workload has no prompts");
    if (!(o.budgetMs > 0)) throw new RangeError(`tune: the budget must be positive, got ${o.budgetMs} ms`);
    if (o.target === "both" && !(o.p99BoundMs! > 0)) throw new RangeError("tune: target both needs a p99 latency bound (ms)");
    this.streams = o.target === "latency" ? 1 : o.streams;
    if (!Number.isInteger(this.streams) || this.streams < 1) throw new RangeError(`tune: streams must be a positive integer, got ${o.streams}`);
    this.rounds = o.rounds ?? 3;
    this.space = o.space;
    this.baseRow = this.row(o.base);
    this.incumbent = this.baseRow;
  }

  async run(): Promise<TuneResult> {
    let confirm: TuneResult["confirm"];
    try {
      const baseEngine = await this.engine(this.o.base);
      const hp = baseEngine.model.hparams;
      this.space ??= defaultSpace({
        cores: availableParallelism(), streams: this.streams, nLayer: hp.nLayer, headDim: hp.headDim, hasDraft: this.o.draftModel !== undefined, target: this.o.target,
      });
      this.prompts = this.o.prompts.filter((p) => p.trim() !== "").map((p) => baseEngine.tokenize(p));
      this.genTokens = await this.sizeWorkload();
      // The guard (and its text, which takes generating) is made when the first candidate that changes outputs comes.
      let guard: Promise<QualityGuard> | undefined;
      const lazyGuard = () => guard ??= (async () => new QualityGuard(baseEngine, this.o.qualityText ?? await this.workloadText(baseEngine), this.o.maxPplRise, this.o.signal))();
      for (; this.knobIndex < KNOBS.length && !this.outOfTime; this.knobIndex++) await this.tuneKnob(KNOBS[this.knobIndex]!, this.space, lazyGuard);
      if (this.incumbent !== this.baseRow) confirm = await this.confirm();
    } catch (e) {
      if (!this.o.signal?.aborted) throw e;
      this.stopped = true;
    } finally {
      native.setThreads(this.o.base.threads);
      for (const e of this.engines.values()) void e.then((x) => x.close(), () => {});
    }
    this.phase = this.stopped ? "stopped: the best so far is kept" : this.outOfTime ? "done: the budget is spent" : "done";
    const snap = this.snapshot(true);
    this.o.onProgress?.(snap);
    return {
      ...snap,
      // Candidates stopped early still have figures and may trade throughput for latency; rejected ones have none.
      pareto: paretoFront([...this.rows.values()].filter((r) => r.figures && (r.status === "measured" || r.status === "dropped")), this.o.target),
      ...(confirm ? { confirm } : {}),
      settings: {
        target: this.o.target, streams: this.streams, ...(this.o.p99BoundMs !== undefined ? { p99BoundMs: this.o.p99BoundMs } : {}),
        budgetMs: this.o.budgetMs, genTokens: this.genTokens, prompts: this.prompts.length, maxPplRise: this.o.maxPplRise,
        rounds: this.rounds, knobs: KNOBS.filter((k) => ((this.space?.[k] ?? []) as readonly unknown[]).length > 1),
      },
    };
  }

  /** One knob: its other values race the incumbent; the winner, if clearly faster, becomes the incumbent. */
  private async tuneKnob(knob: Knob, space: SearchSpace, guard: () => Promise<QualityGuard>): Promise<void> {
    let alive: CandidateRow[] = [];
    for (const p of neighbours(this.incumbent.point, knob, space)) {
      const row = this.row(p);
      if (row.status !== "queued") continue; // measured (or refused) under an earlier incumbent
      if (changesOutput(p)) {
        if (!this.hasTimeFor(4)) continue; // scoring takes about as long as a few measurements
        this.setPhase(`${knob}: quality of ${row.label}`);
        try {
          row.quality = await (await guard()).check(p);
        } catch (e) {
          if (this.o.signal?.aborted) throw e;
          row.status = "failed";
          row.note = (e as Error).message;
          continue;
        }
        if (row.quality && !row.quality.ok) {
          row.status = "rejected";
          row.note = `perplexity +${(row.quality.rise * 100).toFixed(2)}% > +${(this.o.maxPplRise * 100).toFixed(2)}%`;
          continue;
        }
      }
      alive.push(row);
    }
    const ratios = new Map<CandidateRow, { score: number[]; ttft: number[]; tpot: number[] }>(alive.map((r) => [r, { score: [], ttft: [], tpot: [] }]));
    for (let round = 0; round < this.rounds && alive.length > 0; round++) {
      // A new point's first run comes after a short warm-up run: about half a measurement more.
      if (!this.hasTimeFor((round === 0 ? 2.5 : 2) * alive.length + 1)) {
        this.outOfTime = true; // the budget is spent: what is decided so far stands
        break;
      }
      this.setPhase(`${knob}: round ${round + 1}/${this.rounds}, ${alive.length} candidate${alive.length === 1 ? "" : "s"}`);
      // The incumbent first, then the candidates, in alternating order from round to round so drift hits all alike.
      // Every candidate is bracketed by measurements of the incumbent (I A I B I ...) and compared with their mean,
      // so the machine's drift between the two hits both sides alike; the order alternates from round to round.
      let before = await this.measure(this.incumbent);
      if (!before) throw new Error(`tune: the current best configuration failed: ${this.incumbent.note}`);
      for (const row of round % 2 ? [...alive].reverse() : alive) {
        const f = await this.measure(row);
        const after = await this.measure(this.incumbent);
        if (!after) throw new Error(`tune: the current best configuration failed: ${this.incumbent.note}`);
        if (f) {
          const inc = meanFigures(before, after);
          const r = ratios.get(row)!;
          r.score.push(score(f, this.o.target, this.genTokens) / score(inc, this.o.target, this.genTokens));
          r.ttft.push(f.ttftMs / inc.ttftMs);
          r.tpot.push(f.msPerToken / inc.msPerToken);
          row.ratio = median(r.score);
        }
        before = after;
      }
      alive = alive.filter((row) => row.status !== "failed");
      for (const row of alive) {
        if (!this.feasible(row.figures!)) {
          row.status = "infeasible";
          row.note = `p99 ${row.figures!.p99Ms.toFixed(1)} ms > ${this.o.p99BoundMs} ms`;
        } else if (round === 0 && row.ratio! < HOPELESS) {
          row.status = "dropped";
          row.note = `${row.ratio!.toFixed(2)}x after one round`;
        }
      }
      alive = alive.filter((row) => row.status === "measured");
      if (round === 1 && alive.length > 1) {
        const ranked = [...alive].sort((a, b) => b.ratio! - a.ratio!);
        for (const row of ranked.slice(Math.ceil(ranked.length / 2))) {
          row.status = "dropped";
          row.note = `halved out at ${row.ratio!.toFixed(2)}x`;
        }
        alive = ranked.slice(0, Math.ceil(ranked.length / 2));
      }
      this.report();
    }
    const winner = alive.filter((row) => wonRace(ratios.get(row)!.score, Math.min(2, this.rounds)) && this.feasible(row.figures!))
      .sort((a, b) => b.ratio! - a.ratio!)[0];
    if (!winner) return;
    if (this.o.target === "latency") {
      // A latency tune must not trade one latency for the other.
      const r = ratios.get(winner)!;
      if (median(r.ttft) > 1 || median(r.tpot) > 1) return;
    }
    this.incumbent = winner;
    this.report();
  }

  /**
   * The chosen point against the base, alternating (A B B A ...), up to CONFIRM_ROUNDS rounds as the budget allows.
   * The base is kept when the chosen point is not MIN_GAIN faster, or (unless the user stopped the search) when fewer than
   * MIN_CONFIRM_ROUNDS rounds fit: an unconfirmed gain on this noisy machine is too often none.
   */
  private async confirm(): Promise<TuneResult["confirm"]> {
    const ratios: number[] = [], ttft: number[] = [], tpot: number[] = [];
    const seen: { base: WorkloadFigures[]; best: WorkloadFigures[] } = { base: [], best: [] };
    for (let round = 0; round < CONFIRM_ROUNDS && this.hasTimeFor(2, 0); round++) {
      this.setPhase(`confirming against the defaults, round ${round + 1}/${CONFIRM_ROUNDS}`);
      const [first, second] = round % 2 ? [this.incumbent, this.baseRow] : [this.baseRow, this.incumbent];
      const a = await this.measure(first), b = await this.measure(second);
      if (!a || !b) break;
      const [base, best] = round % 2 ? [b, a] : [a, b];
      seen.base.push(base);
      seen.best.push(best);
      ratios.push(score(best, this.o.target, this.genTokens) / score(base, this.o.target, this.genTokens));
      ttft.push(best.ttftMs / base.ttftMs);
      tpot.push(best.msPerToken / base.msPerToken);
    }
    if (this.o.signal?.aborted) return undefined; // stopped: the best so far stands as it is
    if (ratios.length < MIN_CONFIRM_ROUNDS) {
      this.incumbent.note = `kept the defaults: the budget left ${ratios.length} confirmation round${ratios.length === 1 ? "" : "s"}`;
      this.incumbent = this.baseRow;
      return undefined;
    }
    const ratio = median(ratios);
    const worse = !confirmedFaster({ score: ratio, ttft: median(ttft), tpot: median(tpot) }, this.o.target) || !this.feasible(medianFigures(seen.best));
    if (worse) {
      this.incumbent.note = `not ${(MIN_GAIN * 100).toFixed(0)}% faster than the defaults${this.o.target === "both" ? " within the p99 bound" : ""} when confirmed (${ratio.toFixed(2)}x)`;
      this.incumbent = this.baseRow;
    }
    return { ratio, rounds: ratios.length, base: medianFigures(seen.base), best: medianFigures(seen.best), kept: !worse };
  }

  /** One run of the workload under the row's configuration; undefined when the configuration fails. */
  private async measure(row: CandidateRow): Promise<WorkloadFigures | undefined> {
    const was = row.status;
    row.status = "measuring";
    this.report();
    try {
      const engine = await this.engine(row.point);
      native.setThreads(row.point.threads);
      engine.configure({ maxSeqs: row.point.maxSeqs, maxBatchTokens: row.point.maxBatchTokens, maxWaitMs: row.point.maxWaitMs });
      const run = { prompts: this.prompts, streams: this.streams, request: requestOf(row.point), signal: this.o.signal };
      const key = pointKey(row.point);
      if (!this.warm.has(key)) {
        // Untimed warm-up, as llama-bench does: pages the weights in, sizes the step buffers, fills the prefix cache.
        await runWorkload(engine, { ...run, genTokens: Math.min(4, this.genTokens) });
        this.warm.add(key);
      }
      const f = await runWorkload(engine, { ...run, genTokens: this.genTokens });
      row.samples.push(f);
      row.figures = medianFigures(row.samples);
      row.status = was === "queued" || was === "measuring" ? "measured" : was;
      this.measureMs.push(f.wallMs);
      return f;
    } catch (e) {
      if (this.o.signal?.aborted) {
        row.status = was;
        throw e;
      }
      row.status = "failed";
      row.note = (e as Error).message;
      return undefined;
    } finally {
      this.report();
    }
  }

  /**
   * Tokens per stream: 16 unless given, then as many as make one measurement about 1/60 of the budget (8 to 128),
   * from a timed run of the base, so a slow model still gets through the knobs in time.
   */
  private async sizeWorkload(): Promise<number> {
    const room = (await this.engine(this.o.base)).contextSize - Math.max(...this.prompts.map((p) => p.length)) - 16;
    if (room < 1) throw new RangeError("tune: the longest prompt leaves no room to generate in the context");
    if (this.o.genTokens !== undefined) return Math.min(this.o.genTokens, room);
    this.setPhase("sizing the workload");
    this.genTokens = Math.min(16, room);
    const f = await this.measure(this.baseRow);
    if (!f) throw new Error(`tune: the starting configuration fails: ${this.baseRow.note}`);
    const perToken = f.wallMs / this.genTokens;
    const sized = Math.max(Math.min(8, room), Math.min(128, room, Math.round(this.o.budgetMs / 60 / perToken)));
    if (sized !== this.genTokens) {
      // Its figures were for another length: the base is measured again like every candidate, and the time estimate
      // is that of the new length (prefill, then the tokens at the measured rate).
      this.baseRow.samples.length = 0;
      delete this.baseRow.figures;
      this.measureMs = [f.ttftMs + f.msPerToken * (sized - 1)];
    }
    return sized;
  }

  /** The quality guard's text: each prompt (up to 8) with the exact configuration's greedy continuation. */
  private async workloadText(engine: Engine): Promise<string> {
    this.setPhase("writing the quality text");
    const texts = await Promise.all(this.o.prompts.slice(0, 8).map(async (p) =>
      p + (await engine.generate(p, { temperature: 0, maxTokens: 64, signal: this.o.signal })).text));
    return texts.join("\n");
  }

  /** Engines by the settings that need a load (KV type and block size); threads and batching are set per run. */
  private engine(p: TunePoint): Promise<Engine> {
    const key = `${p.kvType}/${p.kvBlockSize}`;
    let e = this.engines.get(key);
    if (!e) {
      e = Engine.load({
        model: this.o.model, threads: p.threads, kvType: p.kvType, kvBlockSize: p.kvBlockSize, draftModel: this.o.draftModel,
        ...(this.o.contextSize !== undefined ? { contextSize: this.o.contextSize } : {}),
        ...(this.o.kvMemoryMiB !== undefined ? { kvMemoryMiB: this.o.kvMemoryMiB } : {}),
      });
      this.engines.set(key, e);
      e.catch(() => this.engines.delete(key));
    }
    return e;
  }

  /** Within the p99 bound of a "both" tune (every configuration is, for the other targets). */
  private feasible(f: WorkloadFigures): boolean {
    return this.o.target !== "both" || f.p99Ms <= this.o.p99BoundMs!;
  }

  private hasTimeFor(measurements: number, reserveRounds = MIN_CONFIRM_ROUNDS): boolean {
    // Timed runs only (warm-ups and loads are one-off); the margin covers the bookkeeping around them.
    const per = this.measureMs.length ? 1.1 * median(this.measureMs) : 0;
    // Room is kept for the confirmation rounds at the end (two measurements each).
    return this.elapsed() + per * (measurements + 2 * reserveRounds) <= this.o.budgetMs;
  }

  private row(p: TunePoint): CandidateRow {
    const key = pointKey(p);
    let row = this.rows.get(key);
    if (!row) {
      row = { key, point: p, label: describePoint(p, this.o.base), status: "queued", samples: [] };
      this.rows.set(key, row);
    }
    return row;
  }

  private elapsed(): number {
    return performance.now() - this.t0;
  }

  private setPhase(phase: string): void {
    this.phase = phase;
    this.report();
  }

  private report(): void {
    if (this.o.signal?.aborted) return;
    this.o.onProgress?.(this.snapshot(false));
  }

  private snapshot(done: boolean): TuneSnapshot {
    const elapsedMs = this.elapsed();
    const progress = done ? 1 : Math.min(0.99, Math.max(elapsedMs / this.o.budgetMs, this.knobIndex / KNOBS.length));
    return {
      rows: [...this.rows.values()].map((r) => ({ ...r, samples: [...r.samples] })),
      base: { ...this.baseRow }, best: { ...this.incumbent }, progress, elapsedMs,
      leftMs: done ? 0 : Math.max(0, this.o.budgetMs - elapsedMs), phase: this.phase, genTokens: this.genTokens, done, stopped: this.stopped,
    };
  }
}

/**
 * Whether a candidate's rounds (its score over the incumbent's, per round) make it the knob's new value: at least
 * `minRounds` of them, a median gain of MIN_GAIN, and faster in every round. A median alone let settings that
 * cannot matter win on noise (max-batch-tokens 1024 for prompts that fit in 512: 1.25x in three rounds of ±20%, at
 * load 6); a change that does nothing is faster in all of three rounds one time in eight, a real 20% gain most times.
 */
export function wonRace(scores: readonly number[], minRounds: number): boolean {
  return scores.length >= minRounds && median(scores) >= 1 + MIN_GAIN && scores.every((x) => x > 1);
}

/**
 * Whether the chosen point beat the base side by side: by MIN_GAIN, as in the race (a point that only matches the
 * base passes a bare "faster" half the time on noise, and its recipe would then differ from the defaults for
 * nothing), and, for a latency tune, with neither latency worse. Ratios are the chosen point's over the base's.
 */
export function confirmedFaster(r: { score: number; ttft: number; tpot: number }, target: TuneTarget): boolean {
  return r.score >= 1 + MIN_GAIN && (target !== "latency" || (r.ttft <= 1 && r.tpot <= 1));
}

/** Higher is better: tokens/s for throughput, requests/s of one stream (1 / (TTFT + the rest of its tokens)) for latency. */
export function score(f: WorkloadFigures, target: TuneTarget, genTokens: number): number {
  return target === "latency" ? 1000 / (f.ttftMs + f.msPerToken * Math.max(0, genTokens - 1)) : f.tokensPerS;
}

export function requestOf(p: TunePoint): { speculative?: { mode: "ngram" | "draft"; k: number }; earlyExit?: { layer: number; threshold: number }[] } {
  return {
    ...(p.speculative ? { speculative: { ...p.speculative } } : {}),
    ...(p.earlyExit ? { earlyExit: p.earlyExit.map((x) => ({ ...x })) } : {}),
  };
}

function meanFigures(a: WorkloadFigures, b: WorkloadFigures): WorkloadFigures {
  return { tokensPerS: (a.tokensPerS + b.tokensPerS) / 2, ttftMs: (a.ttftMs + b.ttftMs) / 2, msPerToken: (a.msPerToken + b.msPerToken) / 2, p99Ms: (a.p99Ms + b.p99Ms) / 2, wallMs: (a.wallMs + b.wallMs) / 2 };
}

function medianFigures(xs: readonly WorkloadFigures[]): WorkloadFigures {
  const m = (f: (x: WorkloadFigures) => number) => median(xs.map(f));
  return { tokensPerS: m((x) => x.tokensPerS), ttftMs: m((x) => x.ttftMs), msPerToken: m((x) => x.msPerToken), p99Ms: m((x) => x.p99Ms), wallMs: m((x) => x.wallMs) };
}

/** The latency a Pareto front trades against throughput: TTFT for a latency tune, the p99 token gap otherwise. */
export function latencyOf(f: WorkloadFigures, target: TuneTarget): number {
  return target === "latency" ? f.ttftMs : f.p99Ms;
}

/** Rows no other row beats on both throughput (higher) and latency (lower), fastest first. */
export function paretoFront(rows: readonly CandidateRow[], target: TuneTarget): CandidateRow[] {
  const pts = rows.filter((r) => r.figures);
  return pts.filter((r) => !pts.some((q) => q !== r &&
    q.figures!.tokensPerS >= r.figures!.tokensPerS && latencyOf(q.figures!, target) <= latencyOf(r.figures!, target) &&
    (q.figures!.tokensPerS > r.figures!.tokensPerS || latencyOf(q.figures!, target) < latencyOf(r.figures!, target))))
    .sort((a, b) => b.figures!.tokensPerS - a.figures!.tokensPerS);
}
