export type FinishReason = "eos" | "length" | "stop" | "abort" | "context" | "error";

/** What a sequence reports to whoever asked for it (the engine's request). */
export interface SequenceSink {
  /** A token was sampled and appended; return a finish reason to end the sequence here. */
  onToken(seq: Sequence, token: number): FinishReason | undefined;
  onFinish(seq: Sequence, reason: FinishReason, error?: Error): void;
}

/**
 * Scheduler-level state of one generation: its tokens (prompt, then generated), how many of them have K/V in
 * the cache, and its block table. Preemption resets `computed` and the table; the tokens are kept and recomputed
 * (or found again in the prefix cache).
 */
export class Sequence {
  readonly tokens: number[];
  readonly promptLength: number;
  computed = 0;
  readonly blockTable: number[] = [];
  /** Prefix-cache keys of the full blocks of `tokens` computed so far (they depend on the tokens only). */
  readonly blockHashes: number[] = [];
  /** Leading blocks of the table already offered to the prefix cache. */
  registeredBlocks = 0;
  finished: FinishReason | undefined;
  preemptions = 0;
  /** Speculative decoding: draft tokens to feed after the last token and verify in the next step. */
  readonly draft: number[] = [];

  constructor(
    readonly id: number,
    prompt: ArrayLike<number>,
    /** Sampling of the next token from a row of logits (the engine binds the request's sampler). */
    readonly pickToken: (logits: Float32Array) => number,
    readonly sink: SequenceSink,
  ) {
    this.tokens = Array.from(prompt);
    this.promptLength = this.tokens.length;
  }

  get generated(): number {
    return this.tokens.length - this.promptLength;
  }

  /** Tokens whose K/V still has to be computed before the next token can be sampled. */
  get pending(): number {
    return this.tokens.length - this.computed;
  }
}
