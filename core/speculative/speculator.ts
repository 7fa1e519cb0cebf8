import type { BlockManager } from "../kv/block-manager.ts";
import type { WindowBlocks } from "../kv/window-blocks.ts";
import type { Model } from "../model/model.ts";
import type { NativeDraftStep, NativeKvCache } from "../native.ts";
import { Sampler, type SamplingOptions } from "../sampling/index.ts";
import type { ScheduledChunk } from "../scheduler/scheduler.ts";
import type { Sequence } from "../scheduler/sequence.ts";
import { noSampleableToken } from "../sampling/errors.ts";
import { judgeDraft, type Judgement } from "./acceptance.ts";
import { ChainDrafter, type DraftCursor, type DraftJob } from "./drafter.ts";
import { DraftVocabulary } from "./draft-vocabulary.ts";
import { ngramPropose } from "./ngram.ts";
import type { ResolvedSpeculativeOptions } from "./options.ts";

export interface SpeculationStats {
  /** Accepted draft tokens / drafted tokens. */
  specAcceptRate: number;
  /** Tokens emitted per target step of this sequence (1 without speculation). */
  specTokensPerStep: number;
  specDrafted: number;
  specAccepted: number;
  /** Tokens in the draft model's reduced head the last time it drafted for this sequence (0: the full head). */
  specDraftHead: number;
}

/** A draft model with its own paged KV cache (loaded once per engine), and the threads it drafts with. */
export interface DraftModel {
  readonly model: Model;
  readonly kv: NativeKvCache;
  readonly blocks: BlockManager;
  /** Threads its forwards run on (undefined: all of the engine's). */
  readonly threads: number | undefined;
  /** The tokens its reduced head starts from (likelyTokens), before any text has taught it a vocabulary. */
  likely?: Int32Array;
  /** Whether a lone drafting sequence's next chain is drafted ahead, after its step (NativeDraftStep.nextSteps). */
  readonly ahead: boolean;
}

/** A verify step's target rows for one sequence: the logits of each, or (verifiesByArgmax) only each one's argmax. */
export type VerifyRows =
  | { readonly argmax?: undefined; logits(i: number): Float32Array }
  | { readonly argmax: (i: number) => number };

/**
 * The draft length after a step that drafted `drafted` tokens and accepted `accepted` of them: doubled (at most
 * maxK) after a fully accepted draft (a run of copied or easy text tends to go on), shrunk to just past an early
 * rejection.
 */
export function adaptedK(k: number, maxK: number, drafted: number, accepted: number): number {
  if (drafted === 0) return k;
  if (accepted === drafted) return Math.min(maxK, k * 2);
  if (accepted < drafted / 2) return Math.max(1, Math.min(k - 1, accepted + 1));
  return k;
}

/** The forward's argmax of a row as a token: -1 means no logit was a number above -Infinity, as the sampler reports. */
export function greedyToken(index: number): number {
  if (index < 0) throw noSampleableToken();
  return index;
}

interface SpecState {
  readonly options: ResolvedSpeculativeOptions;
  /** The target's sampler (the request's): its final distribution is what the output must follow. */
  readonly sampler: Sampler;
  /** Draws draft tokens from the draft model's distribution when the request samples (temperature > 0). */
  readonly draftSampler: Sampler | undefined;
  /** Most tokens the request may still generate. */
  readonly tokensLeft: () => number;
  /** Draft tokens to propose next; adapts to the acceptance. */
  k: number;
  /** Draft distributions of seq.draft (draft model, sampling only). */
  q: Float32Array[];
  cursor: (DraftCursor & { fed: number[] }) | undefined;
  steps: number;
  emitted: number;
  drafted: number;
  accepted: number;
  /** Tokens of the sequence already added to the draft vocabulary. */
  observed: number;
  draftHead: number;
}

/**
 * Speculative decoding inside the engine's batching loop. Before a step, `propose` puts draft tokens on each
 * speculating sequence (seq.draft); the scheduler feeds them with the sequence's last token, so one batched
 * target step yields logits for all k + 1 positions; `verify` then accepts a prefix of the draft by rejection
 * sampling and emits it plus one token from the target, through the caller's `emit` (stop conditions apply per
 * token, in order). Rejected positions are rolled back by the caller (seq.computed).
 */
export class Speculator {
  private readonly states = new Map<Sequence, SpecState>();
  private readonly draftDrafter: ChainDrafter | undefined;
  /** The draft model's reduced head for greedy drafting: the tokens of the speculating sequences. */
  private readonly draftVocabulary: DraftVocabulary | undefined;
  private readonly selfDrafters = new Map<number, ChainDrafter>();
  /** Greedy draft-model jobs proposed for the coming step whose drafting runs in its native call (draftStep). */
  private readonly deferred = new Map<Sequence, DraftJob>();
  private deferredReducedHead = false;
  /** The drafting round the running step carries, until takeDrafts. */
  private round: { finish(): void } | undefined;

  constructor(
    private readonly target: Model,
    private readonly targetKv: NativeKvCache,
    private readonly targetBlocks: BlockManager,
    /** The target's sliding-window layers' blocks, when kept apart (self-drafting writes them too). */
    private readonly targetWindow: WindowBlocks | undefined,
    private readonly contextSize: number,
    private readonly draftModel: DraftModel | undefined,
  ) {
    if (draftModel) {
      this.draftDrafter = new ChainDrafter(draftModel.model, draftModel.kv, draftModel.blocks, 0, draftModel.threads);
      this.draftVocabulary = new DraftVocabulary(draftModel.model.hparams.nVocab);
      if (draftModel.likely) this.draftVocabulary.seed(draftModel.likely);
    }
  }

  attach(seq: Sequence, options: ResolvedSpeculativeOptions, sampler: Sampler, tokensLeft: () => number): void {
    const o = sampler.options;
    const sampled = options.mode === "draft" && (o.temperature ?? 0) > 0;
    const draftOptions: SamplingOptions = {
      temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP, typicalP: o.typicalP,
      seed: ((o.seed ?? 0) ^ 0x5bd1e995) >>> 0,
    };
    this.states.set(seq, {
      options, sampler, tokensLeft,
      draftSampler: sampled ? new Sampler(sampler.vocabSize, draftOptions) : undefined,
      k: options.k, q: [],
      cursor: options.mode === "draft" ? { table: [], fed: [], computed: 0 } : undefined,
      steps: 0, emitted: 0, drafted: 0, accepted: 0, observed: 0, draftHead: 0,
    });
  }

  /** Forgets a finished sequence and frees its draft-model blocks. */
  detach(seq: Sequence): void {
    const s = this.states.get(seq);
    if (s?.cursor) this.draftModel!.blocks.release(s.cursor.table);
    this.states.delete(seq);
  }

  has(seq: Sequence): boolean {
    return this.states.has(seq);
  }

  stats(seq: Sequence): SpeculationStats | undefined {
    const s = this.states.get(seq);
    if (!s) return undefined;
    return {
      specAcceptRate: s.drafted > 0 ? s.accepted / s.drafted : 0,
      specTokensPerStep: s.steps > 0 ? s.emitted / s.steps : 0,
      specDrafted: s.drafted,
      specAccepted: s.accepted,
      specDraftHead: s.draftHead,
    };
  }

  /** Drafts for every speculating sequence that is about to decode (one pending token). */
  async propose(running: readonly Sequence[]): Promise<void> {
    const draftJobs: DraftJob[] = [];
    const drafting: SpecState[] = [];
    const draftingSeqs: Sequence[] = [];
    this.deferred.clear();
    const selfJobs = new Map<number, DraftJob[]>();
    for (const seq of running) {
      const s = this.states.get(seq);
      if (!s) continue;
      seq.draft.length = 0;
      s.q = [];
      if (seq.pending !== 1 || seq.finished) continue;
      const k = this.draftLength(s.k, seq.tokens.length, s.tokensLeft());
      if (k < 1) continue;
      if (s.options.mode === "ngram") {
        seq.draft.push(...ngramPropose(seq.tokens, k));
        continue;
      }
      if (s.options.mode === "draft") {
        if (s.options.draftHead === "seen") {
          this.draftVocabulary!.observe(seq.tokens.slice(s.observed));
          s.observed = seq.tokens.length;
        }
        ChainDrafter.sync(s.cursor!, seq.tokens);
        draftJobs.push({ tokens: seq.tokens, cursor: s.cursor!, k, sampler: s.draftSampler, draft: seq.draft, q: s.q, reducedHead: s.options.draftHead === "seen" });
        drafting.push(s);
        draftingSeqs.push(seq);
      } else {
        const list = selfJobs.get(s.options.layers) ?? [];
        list.push({ tokens: seq.tokens, cursor: { table: seq.blockTable, windowTable: seq.windowTable, computed: seq.computed }, k, draft: seq.draft, q: s.q });
        selfJobs.set(s.options.layers, list);
      }
    }
    if (draftJobs.length > 0) {
      // The reduced head only when every drafting sequence agrees to it (they draft in one batch).
      const vocabulary = this.draftVocabulary!;
      const reduced = vocabulary.active && draftJobs.every((j) => j.reducedHead && !j.sampler);
      const update = reduced ? vocabulary.takeUpdate() : undefined;
      if (update) this.draftModel!.model.setDraftHead(update);
      for (const s of drafting) s.draftHead = reduced ? vocabulary.size : 0;
      if (drafting.every((s) => !s.draftSampler && !s.sampler.constraint?.validPrefix)) {
        // Greedy drafts that no grammar trims: drafted in the verifying step's own native call. Until then the draft
        // holds k placeholder tokens, so the scheduler makes room for the k positions it will feed.
        this.deferredReducedHead = reduced;
        draftJobs.forEach((job, i) => {
          if (!this.draftDrafter!.reserve(job)) return;
          for (let t = 0; t < job.k; t++) job.draft.push(0);
          this.deferred.set(draftingSeqs[i]!, job);
        });
      } else {
        await this.draftDrafter!.draft(draftJobs, reduced);
      }
    }
    for (const [layers, jobs] of selfJobs) await this.selfDrafter(layers).draft(jobs);
    // A constrained request's draft stops before the first token its grammar refuses: verification would reject
    // it anyway (its masked probability is 0), and the positions after it would be computed for nothing.
    for (const seq of running) {
      const s = this.states.get(seq);
      const validPrefix = s?.sampler.constraint?.validPrefix;
      if (!s || !validPrefix || seq.draft.length === 0) continue;
      const n = validPrefix(seq.draft);
      seq.draft.length = n;
      if (s.q.length > n) s.q.length = n;
    }
  }

  /**
   * The drafting half of a one-call speculative step (NativeStepBatch.draft): the deferred jobs of the sequences
   * whose chunk feeds their draft, each drafted into the step's batch where that chunk's draft tokens go (the
   * batch's token layout is StepBuffers.fill's: each chunk's tokens in order, its draft last). Once the step has
   * run, takeDrafts() puts the drafted tokens in each sequence's draft. A draft the scheduler dropped is not drafted.
   */
  draftStep(chunks: readonly ScheduledChunk[], verifiesByArgmax: boolean): NativeDraftStep | undefined {
    if (this.deferred.size === 0) return undefined;
    const jobs: DraftJob[] = [], offsets: number[] = [], seqs: Sequence[] = [];
    let t = 0;
    for (const c of chunks) {
      const job = this.deferred.get(c.seq);
      if (job && c.drafted === job.k) {
        jobs.push(job);
        seqs.push(c.seq);
        offsets.push(t + c.count - c.drafted);
      }
      t += c.count;
    }
    this.deferred.clear();
    if (jobs.length === 0) return undefined;
    // A lone sequence's next chain is drafted in the gap after this step (NativeDraftStep.nextSteps); its positions
    // need room in the table before the batch packs it.
    const next = this.draftModel!.ahead && verifiesByArgmax && jobs.length === 1 ? this.nextSteps(seqs[0]!, jobs[0]!.k) : undefined;
    const ahead = next && this.draftDrafter!.reserve(jobs[0]!, Math.max(...next) + 1) ? next : undefined;
    const round = this.draftDrafter!.greedyRound(jobs, this.deferredReducedHead);
    this.round = round;
    return this.draftModel!.model.draftStep(this.draftModel!.kv, round.batch, Int32Array.from(offsets), ahead);
  }

  /** Entry a: the length propose will give the sequence's next draft if a of its k drafts are accepted. */
  private nextSteps(seq: Sequence, k: number): Int32Array {
    const s = this.states.get(seq)!;
    return Int32Array.from({ length: k + 1 }, (_, a) => {
      const emitted = a + 1;
      return Math.max(0, this.draftLength(adaptedK(s.k, s.options.k, k, a), seq.tokens.length + emitted, s.tokensLeft() - emitted));
    });
  }

  /** The draft length propose gives a sequence of nTokens tokens with tokensLeft left to generate. */
  private draftLength(k: number, nTokens: number, tokensLeft: number): number {
    // The verifying step feeds positions up to nTokens - 1 + k; the last emitted token must fit too.
    return Math.min(k, this.contextSize - nTokens, tokensLeft);
  }

  /** After a step that carried draftStep's round: each drafted sequence's draft holds its drafted tokens. */
  takeDrafts(): void {
    this.round?.finish();
    this.round = undefined;
  }

  /**
   * Whether verifying this sequence's drafts needs only the argmax of each target row: the target picks greedily
   * (temperature 0, no bias or penalties) and the drafts are deterministic proposals (greedy drafts, n-gram or
   * self-drafting), so a draft token stands exactly when it is the row's argmax. The engine then asks the forward
   * for the argmax, as for plain greedy steps, which skips most of the head's exact work.
   */
  verifiesByArgmax(seq: Sequence): boolean {
    const s = this.states.get(seq);
    return s !== undefined && s.draftSampler === undefined && s.sampler.argmaxSuffices;
  }

  /**
   * Judges the draft of `seq` against the target's rows (row 0 follows the last token, row i the i-th draft
   * token) and emits the accepted tokens and one more; `emit` returns false once the sequence has finished.
   * Returns how many draft tokens were accepted (their K/V stays valid).
   */
  verify(seq: Sequence, rows: VerifyRows, emit: (token: number) => boolean): number {
    const s = this.states.get(seq)!;
    const draft = seq.draft.slice();
    seq.draft.length = 0;
    const judge = (i: number, token: number): Judgement => {
      if (rows.argmax === undefined) return judgeDraft(s.sampler, rows.logits(i), token, s.q[i]);
      const best = greedyToken(rows.argmax(i));
      return { accepted: best === token, token: best };
    };
    // Counters move before each emit: the sequence may finish inside it, and its result reads them then.
    s.steps++;
    s.drafted += draft.length;
    let accepted = 0;
    for (const token of draft) {
      const j = judge(accepted, token);
      s.emitted++;
      if (j.accepted) {
        accepted++;
        s.accepted++;
      }
      if (!emit(j.token) || !j.accepted) {
        this.adapt(s, draft.length, accepted);
        return accepted;
      }
    }
    this.adapt(s, draft.length, accepted);
    s.emitted++;
    emit(rows.argmax === undefined ? s.sampler.sample(rows.logits(accepted)) : greedyToken(rows.argmax(accepted)));
    return accepted;
  }

  private adapt(s: SpecState, drafted: number, accepted: number): void {
    s.k = adaptedK(s.k, s.options.k, drafted, accepted);
  }

  private selfDrafter(layers: number): ChainDrafter {
    let d = this.selfDrafters.get(layers);
    if (!d) this.selfDrafters.set(layers, (d = new ChainDrafter(this.target, this.targetKv, this.targetBlocks, layers, undefined, this.targetWindow)));
    return d;
  }
}
