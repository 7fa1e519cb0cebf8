import type { BlockManager } from "../kv/block-manager.ts";
import { packTables } from "../kv/packed-tables.ts";
import type { WindowBlocks } from "../kv/window-blocks.ts";
import type { Model } from "../model/model.ts";
import type { NativeKvCache, NativeStepBatch } from "../native.ts";
import type { Sampler } from "../sampling/index.ts";

/** Where one sequence's draft K/V lives and how far it is filled. A cache of its own also records which token
 *  each position holds (fed[i], i < computed), so it can be rewound to what the target accepted. */
export interface DraftCursor {
  readonly table: number[];
  /** The sliding-window layers' table, when the cache keeps them apart (self-drafting on such a target). */
  readonly windowTable?: number[];
  readonly fed?: number[];
  computed: number;
}

/** One sequence's share of a drafting round. */
export interface DraftJob {
  /** The sequence's tokens (prompt + generated); drafting continues after the last one. */
  readonly tokens: readonly number[];
  readonly cursor: DraftCursor;
  /** Tokens to draft. */
  readonly k: number;
  /** Draws each draft token from the draft distribution (its q is then recorded); otherwise takes the argmax. */
  readonly sampler?: Sampler;
  /** Greedy drafting may use the draft model's reduced head (its draft vocabulary) for this sequence. */
  readonly reducedHead?: boolean;
  /** Out: the drafted tokens and, when sampled, their draft distributions. */
  readonly draft: number[];
  readonly q: Float32Array[];
}

/**
 * Autoregressive drafting with a model over a paged KV cache: the draft model (its own cache and blocks), or the
 * target itself cut to its first layers (self-drafting, on the target's cache: the verifying full-depth step
 * rewrites those positions in every layer). All sequences draft together, one batched forward per draft token.
 */
export class ChainDrafter {
  constructor(
    private readonly model: Model,
    private readonly kv: NativeKvCache,
    private readonly blocks: BlockManager,
    /** Layers to run, 0 for all. */
    private readonly nLayers: number,
    /** Threads its forwards run on (undefined: all of the engine's). */
    private readonly threads?: number,
    /** The sliding-window layers' blocks when the cache keeps them apart (the cursors then carry window tables). */
    private readonly window?: WindowBlocks,
  ) {}

  /** Rewinds the cursor to the longest prefix it shares with `tokens`. */
  static sync(cursor: DraftCursor & { fed: number[] }, tokens: readonly number[]): void {
    let n = Math.min(cursor.computed, tokens.length);
    for (let i = 0; i < n; i++) {
      if (cursor.fed[i] !== tokens[i]) { n = i; break; }
    }
    cursor.computed = n;
    cursor.fed.length = n;
  }

  /** Room for positions up to nTokens in the cursor's tables. */
  private ensureCapacity(cursor: DraftCursor, nTokens: number): boolean {
    if (!this.blocks.ensureCapacity(cursor.table, nTokens)) return false;
    return !this.window || this.window.ensure(cursor.windowTable!, cursor.computed, nTokens);
  }

  /** Makes room for every position the job's drafting feeds: up to the last token plus k - 1 drafts, and `beyond`
   *  more (drafting ahead: the last draft and the next step's). */
  reserve(job: DraftJob, beyond = 0): boolean {
    return job.k > 0 && this.ensureCapacity(job.cursor, job.tokens.length + job.k - 1 + beyond);
  }

  /** reducedHead: greedy drafts (no job samples) take the argmax over the model's draft head only. */
  async draft(jobs: DraftJob[], reducedHead = false): Promise<void> {
    let active = jobs.filter((j) => this.reserve(j));
    if (active.length > 0 && active.every((j) => !j.sampler)) return this.draftGreedy(active, reducedHead);
    for (let step = 0; active.length > 0; step++) {
      const feeds = active.map((j) => {
        const from = j.cursor.computed;
        const pending = step === 0 ? j.tokens.slice(from) : [j.draft[j.draft.length - 1]!];
        return { job: j, start: from, tokens: pending };
      });
      const batch = buildBatch(feeds.map((f) => ({ tokens: f.tokens, start: f.start, cursor: f.job.cursor })), this.model.hparams.nVocab, this.window !== undefined);
      if (this.nLayers > 0) batch.nLayers = this.nLayers;
      if (this.threads !== undefined) batch.threads = this.threads;
      await this.model.forward(this.kv, batch);
      const vocab = this.model.hparams.nVocab;
      feeds.forEach((f, r) => {
        const c = f.job.cursor;
        c.fed?.push(...f.tokens);
        c.computed += f.tokens.length;
        const row = batch.logits.subarray(r * vocab, (r + 1) * vocab);
        if (f.job.sampler) {
          const q = Float32Array.from(f.job.sampler.probabilities(row));
          f.job.q.push(q);
          f.job.draft.push(drawFrom(q, f.job.sampler.random()));
        } else {
          f.job.draft.push(argmax(row));
        }
      });
      active = active.filter((j) => j.draft.length < j.k);
    }
  }

  /** Greedy drafts of every job in one native call: the same tokens the step-by-step loop picks (argmax; over the
   *  draft head's tokens with reducedHead). */
  private async draftGreedy(jobs: DraftJob[], reducedHead: boolean): Promise<void> {
    const round = this.greedyRound(jobs, reducedHead);
    await this.model.forward(this.kv, round.batch);
    round.finish();
  }

  /**
   * The native batch of a greedy drafting round of jobs that have room (reserve), and `finish`, to call once it has
   * run: it puts each job's drafted tokens in its draft (replacing what was there) and advances its cursor. The
   * batch may run alone (draftGreedy) or as the first half of a one-call speculative step (Model.draftStep).
   */
  greedyRound(jobs: readonly DraftJob[], reducedHead: boolean): { batch: NativeStepBatch; finish(): void } {
    const feeds = jobs.map((j) => ({ tokens: j.tokens.slice(j.cursor.computed), start: j.cursor.computed, cursor: j.cursor }));
    const batch = buildBatch(feeds, 0, this.window !== undefined); // greedy drafting writes no logits, only each draft's argmax
    if (this.nLayers > 0) batch.nLayers = this.nLayers;
    if (reducedHead) batch.draftHead = true;
    if (this.threads !== undefined) batch.threads = this.threads;
    const kMax = Math.max(...jobs.map((j) => j.k));
    batch.greedySteps = Int32Array.from(jobs, (j) => j.k);
    batch.greedyTokens = new Int32Array(jobs.length * kMax);
    const finish = () => jobs.forEach((j, s) => {
      const drafted = Array.from(batch.greedyTokens!.subarray(s * kMax, s * kMax + j.k));
      const fed = [...feeds[s]!.tokens, ...drafted.slice(0, -1)];
      j.cursor.fed?.push(...fed);
      j.cursor.computed += fed.length;
      j.draft.length = 0;
      j.draft.push(...drafted);
    });
    return { batch, finish };
  }
}

/** A batch feeding each entry's tokens from `start`, with logits (rows nVocab wide) for each entry's last token;
 *  windowed: with the cursors' window tables. */
function buildBatch(entries: { tokens: readonly number[]; start: number; cursor: DraftCursor }[], nVocab: number, windowed: boolean): NativeStepBatch {
  const nTokens = entries.reduce((a, e) => a + e.tokens.length, 0);
  const tokens = new Int32Array(nTokens), positions = new Int32Array(nTokens), seqIds = new Int32Array(nTokens);
  const rows = new Int32Array(entries.length);
  let t = 0;
  entries.forEach((e, s) => {
    for (let i = 0; i < e.tokens.length; i++, t++) {
      tokens[t] = e.tokens[i]!;
      positions[t] = e.start + i;
      seqIds[t] = s;
    }
    rows[s] = t - 1;
  });
  const main = packTables(entries.map((e) => e.cursor.table));
  const window = windowed ? packTables(entries.map((e) => e.cursor.windowTable!)) : undefined;
  return {
    tokens, positions, seqIds, blockTables: main.flat, tableOffsets: main.offsets, logitRows: rows,
    logits: new Float32Array(entries.length * nVocab),
    ...(window ? { windowBlockTables: window.flat, windowTableOffsets: window.offsets } : {}),
  };
}

/** Inverse-CDF draw from a distribution that sums to 1 (u uniform in [0, 1)). */
export function drawFrom(p: Float32Array, u: number): number {
  let last = 0;
  for (let t = 0; t < p.length; t++) {
    if (p[t]! <= 0) continue;
    last = t;
    u -= p[t]!;
    if (u < 0) return t;
  }
  return last;
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let t = 1; t < x.length; t++) if (x[t]! > x[best]!) best = t;
  return best;
}
