import type { BlockManager } from "../kv/block-manager.ts";
import type { WindowBlocks } from "../kv/window-blocks.ts";
import type { Sequence } from "./sequence.ts";

export interface BatchingOptions {
  /** Sequences in one step. */
  maxSeqs: number;
  /** Tokens in one step (decodes count one each; prefill fills the rest in chunks). */
  maxBatchTokens: number;
  /** How long an idle engine waits for more requests before the first step, to batch them together. */
  maxWaitMs: number;
  /** Reuse the K/V of full blocks another sequence computed for the same prefix (automatic prefix caching). */
  prefixCaching: boolean;
}

export interface ScheduledChunk {
  readonly seq: Sequence;
  /** First token index (= position) fed this step, and how many. */
  readonly start: number;
  readonly count: number;
  /** Whether this chunk ends at the sequence's last token, so the step samples its next one. */
  readonly sample: boolean;
  /** Speculative decoding: the chunk also feeds seq.draft (its last `drafted` tokens), with logits for each. */
  readonly drafted: number;
}

/**
 * Continuous batching: FCFS waiting queue and a running set. Each step gives every running decode one token,
 * then spends what is left of the token budget on prompt chunks (chunked prefill), admitting waiting
 * sequences while there is room. When the KV pool runs dry the newest running sequence is preempted: its blocks
 * are freed and it goes back to the front of the queue, to be recomputed later. With prefix caching, an
 * admitted sequence starts past the full blocks of its tokens that are still cached.
 *
 * A model whose sliding-window layers keep their K/V apart (`window`) gives each sequence a second table, whose
 * blocks before the window are freed as the sequence advances; a prefix hit must then find the window's blocks
 * too.
 */
export class Scheduler {
  readonly waiting: Sequence[] = [];
  readonly running: Sequence[] = [];
  preemptions = 0;
  /** Tokens of admitted sequences looked up in the prefix cache, and how many were found there (not computed). */
  prefixLookupTokens = 0;
  prefixHitTokens = 0;

  constructor(
    private readonly blocks: BlockManager,
    public options: BatchingOptions,
    private readonly maxContext: number,
    private readonly window?: WindowBlocks,
  ) {}

  get hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  add(seq: Sequence): void {
    this.waiting.push(seq);
  }

  /** Removes a sequence wherever it is and frees its blocks, keeping its last partial block in the prefix cache. */
  remove(seq: Sequence): void {
    for (const queue of [this.waiting, this.running]) {
      const i = queue.indexOf(seq);
      if (i >= 0) queue.splice(i, 1);
    }
    if (this.options.prefixCaching) {
      this.blocks.registerPartial(seq.cacheKeys, seq.blockTable, seq.blockHashes, seq.computed);
      this.window?.blocks.registerPartial(seq.cacheKeys, seq.windowTable, seq.blockHashes, seq.computed);
    }
    this.releaseBlocks(seq);
  }

  private releaseBlocks(seq: Sequence): void {
    this.blocks.release(seq.blockTable);
    this.window?.blocks.release(seq.windowTable);
  }

  /** Grows the sequence's tables to cover nTokens positions (freeing dead window blocks). False: the pool is short. */
  private ensureCapacity(seq: Sequence, nTokens: number): boolean {
    return this.blocks.ensureCapacity(seq.blockTable, nTokens) && (!this.window || this.window.ensure(seq.windowTable, seq.computed, nTokens));
  }

  /** Tokens of a prompt chunk: what is pending, within the budget (and what the window pool can hold). */
  private chunkOf(seq: Sequence, budget: number): number {
    return Math.min(seq.pending, budget, this.window?.maxChunk() ?? Infinity);
  }

  /** A sequence that can never fit: it needs more blocks than the whole pool, or more than the context. */
  cannotFit(seq: Sequence): string | undefined {
    if (seq.tokens.length > this.maxContext) return `needs ${seq.tokens.length} positions but the context holds ${this.maxContext}`;
    if (this.blocks.blocksFor(seq.tokens.length) > this.blocks.numBlocks) {
      return `needs ${this.blocks.blocksFor(seq.tokens.length)} KV blocks but the pool has ${this.blocks.numBlocks}`;
    }
    if (this.window && this.window.blocksPerSequence(1) > this.window.blocks.numBlocks) {
      return `needs ${this.window.blocksPerSequence(1)} KV blocks for its sliding window but the window pool has ${this.window.blocks.numBlocks}`;
    }
    return undefined;
  }

  schedule(): ScheduledChunk[] {
    const chunks: ScheduledChunk[] = [];
    const scheduled = new Set<Sequence>();
    let budget = this.options.maxBatchTokens;
    const add = (seq: Sequence, count: number, drafted = 0) => {
      chunks.push({ seq, start: seq.computed, count: count + drafted, sample: count === seq.pending, drafted });
      scheduled.add(seq);
      budget -= count + drafted;
    };

    // Decodes first: a running sequence with one pending token never waits behind a long prompt.
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i]!;
      if (seq.pending !== 1) continue;
      // A draft is only fed when its positions fit without preempting anyone.
      if (!this.ensureCapacity(seq, seq.tokens.length + seq.draft.length)) seq.draft.length = 0;
      if (this.reserve(seq, seq.tokens.length, scheduled)) add(seq, 1, seq.draft.length);
      else if (this.running[i] !== seq) i--; // seq itself was preempted: index i now holds the next one
    }
    // Then prompt chunks of running sequences (resumed or long prompts), then newly admitted ones.
    for (const seq of [...this.running]) {
      if (budget <= 0) break;
      if (seq.pending <= 1 || scheduled.has(seq) || !this.running.includes(seq)) continue;
      const take = this.chunkOf(seq, budget);
      if (this.reserve(seq, seq.computed + take, scheduled)) add(seq, take);
    }
    while (budget > 0 && this.waiting.length > 0 && this.running.length < this.options.maxSeqs) {
      const seq = this.waiting[0]!;
      if (!this.admit(seq, budget)) break;
      this.waiting.shift();
      this.running.push(seq);
      add(seq, this.chunkOf(seq, budget));
    }
    return chunks;
  }

  /**
   * Gives a waiting sequence its blocks for the first chunk: cached prefix blocks first (at least the last
   * token is always computed, so its logits exist), then fresh ones. Changes nothing when the pool is short.
   */
  private admit(seq: Sequence, budget: number): boolean {
    if (this.options.prefixCaching) {
      const hit = this.blocks.acquirePrefix(seq.cacheKeys, seq.tokens.length, seq.blockHashes, seq.blockTable);
      seq.computed = Math.min(hit.tokens, seq.tokens.length - 1);
      if (this.window) {
        // The window blocks the next token attends must be cached too; the hit is where both caches hold them.
        seq.computed = this.window.acquirePrefix(seq.cacheKeys, seq.computed, seq.blockHashes, seq.windowTable);
        this.blocks.truncate(seq.blockTable, this.blocks.blocksFor(seq.computed));
      }
      seq.registeredBlocks = Math.min(hit.fullBlocks, Math.floor(seq.computed / this.blocks.blockSize));
    }
    const take = this.chunkOf(seq, budget);
    const writable = this.blocks.makeWritable(seq.blockTable, seq.computed) && (!this.window || this.window.blocks.makeWritable(seq.windowTable, seq.computed));
    if (writable && this.ensureCapacity(seq, seq.computed + take)) {
      if (this.options.prefixCaching) {
        this.prefixLookupTokens += seq.tokens.length;
        this.prefixHitTokens += seq.computed;
        if (seq.preemptions === 0) seq.promptCached = seq.computed;
      }
      return true;
    }
    this.releaseBlocks(seq);
    seq.computed = 0;
    seq.registeredBlocks = 0;
    return false;
  }

  /** After a step: offers the sequence's newly completed blocks to the prefix cache. */
  registerComputed(seq: Sequence): void {
    const full = Math.floor(seq.computed / this.blocks.blockSize);
    if (!this.options.prefixCaching || full <= seq.registeredBlocks) return;
    this.blocks.registerFull(seq.cacheKeys, seq.blockTable, seq.blockHashes, seq.registeredBlocks, full);
    this.window?.blocks.registerFull(seq.cacheKeys, seq.windowTable, seq.blockHashes, seq.registeredBlocks, full);
    seq.registeredBlocks = full;
  }

  /** The most KV slots a running sequence holds beyond its computed tokens (at most blockSize - 1 by design). */
  maxUnusedSlots(): number {
    let most = 0;
    for (const seq of this.running) most = Math.max(most, seq.blockTable.length * this.blocks.blockSize - seq.computed);
    return most;
  }

  /**
   * Makes room for `nTokens` positions of a running sequence, preempting the newest sequences not already in
   * this step. Returns false when the sequence has to sit this step out (it may itself have been preempted).
   */
  private reserve(seq: Sequence, nTokens: number, scheduled: ReadonlySet<Sequence>): boolean {
    while (!this.ensureCapacity(seq, nTokens)) {
      const victim = this.running.findLast((s) => !scheduled.has(s));
      if (!victim) return false;
      this.preempt(victim);
      if (victim === seq) return false;
    }
    return true;
  }

  private preempt(seq: Sequence): void {
    this.running.splice(this.running.indexOf(seq), 1);
    this.releaseBlocks(seq);
    seq.computed = 0;
    seq.draft.length = 0;
    seq.registeredBlocks = 0;
    seq.preemptions++;
    this.preemptions++;
    this.waiting.unshift(seq);
  }
}
