export type FinishReason = "eos" | "length" | "stop" | "abort" | "context" | "error";

/** What a sequence reports to whoever asked for it (the engine's request). */
export interface SequenceSink {
  /** A token was sampled and appended; return a finish reason to end the sequence here. */
  onToken(seq: Sequence, token: number): FinishReason | undefined;
  onFinish(seq: Sequence, reason: FinishReason, error?: Error): void;
}

/** How a sequence's next token is chosen from a row of logits. */
export interface TokenPicker {
  sample(logits: Float32Array): number;
  /** The choice is the argmax of the raw logits, which the native forward can give instead of the row. */
  readonly argmaxSuffices: boolean;
}

/**
 * Scheduler-level state of one generation: its tokens (prompt, then generated), how many of them have K/V in
 * the cache, and its block table. Preemption resets `computed` and the table; the tokens are kept and recomputed
 * (or found again in the prefix cache).
 */
export class Sequence {
  readonly tokens: number[];
  readonly promptLength: number;
  /**
   * The prefix cache's view of the tokens: each prompt token's id with its arithmetic flags above bit 24 (K/V
   * computed in another arithmetic is not the same K/V), generated tokens as they are.
   */
  readonly cacheKeys: number[];
  computed = 0;
  readonly blockTable: number[] = [];
  /** The sliding-window layers' blocks when the model keeps them apart (core/kv/window-blocks.ts), else empty. */
  readonly windowTable: number[] = [];
  /** Prefix-cache keys of the full blocks of `tokens` computed so far (they depend on the tokens only). */
  readonly blockHashes: number[] = [];
  /** Leading blocks of the table already offered to the prefix cache. */
  registeredBlocks = 0;
  finished: FinishReason | undefined;
  preemptions = 0;
  /** Prompt tokens found in the prefix cache at the first admission, and prompt tokens computed since. */
  promptCached = 0;
  promptComputed = 0;
  /** Speculative decoding: draft tokens to feed after the last token and verify in the next step. */
  readonly draft: number[] = [];

  constructor(
    readonly id: number,
    prompt: ArrayLike<number>,
    /** Chooses the next token (the request's sampler). */
    readonly picker: TokenPicker,
    readonly sink: SequenceSink,
    /** Arithmetic flags of the prompt's tokens (core/model/row-arithmetic.ts); undefined = the model's default. */
    readonly promptArithmetic?: Uint8Array,
  ) {
    this.tokens = Array.from(prompt);
    this.promptLength = this.tokens.length;
    this.cacheKeys = promptArithmetic ? this.tokens.map((t, i) => t + promptArithmetic[i]! * 2 ** 24) : [...this.tokens];
  }

  /** A sampled token joins the sequence. */
  append(token: number): void {
    this.tokens.push(token);
    this.cacheKeys.push(token);
  }

  get generated(): number {
    return this.tokens.length - this.promptLength;
  }

  /** Tokens whose K/V still has to be computed before the next token can be sampled. */
  get pending(): number {
    return this.tokens.length - this.computed;
  }
}
