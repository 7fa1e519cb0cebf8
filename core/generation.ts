import { Sampler, StopMatcher, type SamplingOptions } from "./sampling/index.ts";
import { LogprobRecorder, type TokenLogprob } from "./sampling/logprobs.ts";
import { GrammarMatcher, type Grammar } from "./sampling/grammar/grammar.ts";
import { GrammarError } from "./sampling/grammar/errors.ts";
import type { OutputConstraint } from "./sampling/grammar/constraint.ts";
import { TriggerWatch, type GrammarTriggers } from "./sampling/grammar/lazy.ts";
import type { ThinkingStart } from "./sampling/grammar/thinking.ts";
import type { ZodType } from "zod";
import type { FinishReason, Sequence, SequenceSink, TokenPicker } from "./scheduler/sequence.ts";
import type { EarlyExitStats } from "./earlyexit/controller.ts";
import type { ExitPoint } from "./earlyexit/options.ts";
import type { SpeculativeOptions } from "./speculative/options.ts";
import type { SpeculationStats } from "./speculative/speculator.ts";
import type { StreamingDecoder, Tokenizer } from "./tokenizer/index.ts";

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate (default 256). */
  maxTokens?: number;
  /** Generation ends before any of these strings; no part of one is ever emitted. */
  stop?: string[];
  signal?: AbortSignal;
  /** Add BOS/EOS as the model asks (default true). */
  addSpecial?: boolean;
  /** Turn special-token text in the prompt (e.g. "<|im_start|>") into their ids (default false). */
  parseSpecial?: boolean;
  /** Control tokens in the output as their text (a chat's tool-call markers such as [TOOL_CALLS]; default false). */
  renderSpecial?: boolean;
  /** Keep generating past end-of-generation tokens (benchmarks). */
  ignoreEos?: boolean;
  /** Speculative decoding (the output follows the target's distribution exactly; greedy output is unchanged). */
  speculative?: SpeculativeOptions;
  /** Early exit: stop after `layer` layers when the top token's probability reaches `threshold`. */
  earlyExit?: ExitPoint[];
  /**
   * Report each generated token's log-probability under the model (log-softmax of the raw logits) with this many
   * most likely alternatives (0 to 20). Not combinable with speculative decoding.
   */
  logprobs?: number;
  /** Constrain the output to a GBNF grammar (llama.cpp's format): its text, or one from `engine.grammar()`. */
  grammar?: string | Grammar;
  /** Constrain the output to JSON valid against this JSON Schema (an object or its JSON text); the result's
   *  `value` is the parsed output. */
  jsonSchema?: object | string;
  /** A zod schema: the output is JSON valid against it (z.toJSONSchema), and the result's `value` is the output
   *  parsed by it. */
  schema?: ZodType;
  /** Makes the grammar (or schema) lazy: the output is free until one of these texts appears, and matches the
   *  grammar from there on (tool calls a model may or may not make). */
  grammarTriggers?: GrammarTriggers;
  /**
   * A reasoning model's think block at the start of the output ("may-think": it may open one; "thinking": the
   * prompt opened it): the grammar holds the text after the block. The chat layer sets this from the prompt.
   */
  thinking?: ThinkingStart;
  /**
   * The prompt tokens' arithmetic flags (core/model/row-arithmetic.ts), one per token, in place of the engine's
   * default for a prompt evaluated as one batch. The chat layer sets it when a turn continues the conversation it
   * computed: the earlier tokens keep the flags they were computed with (so the prefix cache finds them, as
   * llama-server's cache keeps a conversation), the new tokens take a batch's. Ignored in the "token" and "batch"
   * arithmetics.
   */
  promptArithmetic?: Uint8Array;
}

export interface TokenEvent {
  readonly token: number;
  /** Text this token released (may be empty while a UTF-8 character or a possible stop string is incomplete). */
  readonly text: string;
  /** Present when the request asked for `logprobs` (absent on the final flush event, token -1). */
  readonly logprob?: TokenLogprob;
}

/** Speculation and early-exit stats are present when the request used them. */
export interface GenerationStats extends Partial<SpeculationStats>, Partial<EarlyExitStats> {
  promptTokens: number;
  /** Prompt tokens whose K/V came from the prefix cache, and prompt tokens computed (again after a preemption). */
  promptTokensCached: number;
  promptTokensComputed: number;
  generatedTokens: number;
  /** Time to first token, ms from submission. */
  ttftMs: number;
  totalMs: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  preemptions: number;
}

export interface GenerationResult<T = unknown> {
  text: string;
  /** The parsed output, with `jsonSchema` or a zod `schema` (typed by it). */
  value?: T;
  tokens: number[];
  promptTokens: number[];
  finishReason: FinishReason;
  stats: GenerationStats;
  /** One record per generated token when the request asked for `logprobs`. */
  logprobs?: TokenLogprob[];
}

/**
 * One request as the user sees it: turns sampled tokens into text (UTF-8-safe, stop strings held back),
 * feeds a stream, and settles the result.
 */
export class Generation implements SequenceSink {
  readonly sampler: Sampler;
  /** How the engine picks this request's tokens: the sampler, or a recorder around it when logprobs are asked. */
  readonly picker: TokenPicker;
  private readonly recorder: LogprobRecorder | undefined;
  private readonly logprobs: TokenLogprob[] = [];
  private readonly decoder: StreamingDecoder;
  private readonly stops: StopMatcher;
  private readonly maxTokens: number;
  private readonly ignoreEos: boolean;
  private text = "";
  private readonly submittedAt = performance.now();
  private firstTokenAt = 0;
  private readonly queue: TokenEvent[] = [];
  private wake: (() => void) | undefined;
  private settled = false;
  private readonly resultPromise: Promise<GenerationResult>;
  private resolveResult!: (r: GenerationResult) => void;
  private rejectResult!: (e: Error) => void;
  streaming = false;
  /** Stats the engine adds to the result (speculation). */
  extraStats: (() => Partial<SpeculationStats & EarlyExitStats>) | undefined;
  /** The output's grammar position, when constrained. */
  readonly matcher: GrammarMatcher | undefined;
  /** A lazy grammar's watch for its trigger; the matcher applies once it has fired. */
  private watch: TriggerWatch | undefined;
  private produced = 0;

  constructor(
    private readonly tokenizer: Tokenizer,
    readonly promptTokens: Int32Array,
    options: GenerateOptions,
    private readonly constraint?: OutputConstraint,
  ) {
    this.sampler = new Sampler(tokenizer.vocabSize, samplingPart(options));
    if (constraint) {
      this.matcher = new GrammarMatcher(constraint.grammar);
      if (constraint.triggers) this.watch = new TriggerWatch(constraint.triggers, constraint.thinking);
      else this.constrain(this.matcher);
    }
    for (const t of promptTokens) this.sampler.accept(t);
    if (options.logprobs !== undefined) this.recorder = new LogprobRecorder(this.sampler, options.logprobs);
    this.picker = this.recorder ?? this.sampler;
    this.decoder = tokenizer.createDecoder({ continuation: true, renderSpecial: options.renderSpecial ?? false });
    this.stops = new StopMatcher(options.stop ?? []);
    this.maxTokens = options.maxTokens ?? 256;
    this.ignoreEos = options.ignoreEos ?? false;
    this.resultPromise = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // A result nobody awaits (a stream consumer that only iterates) must not become an unhandled rejection.
    this.resultPromise.catch(() => {});
  }

  /** From now on the sampler draws only what the grammar allows. */
  private constrain(matcher: GrammarMatcher): void {
    // The mask knows the token budget, so a generation running out of tokens closes its output in time.
    this.sampler.constraint = {
      mask: () => matcher.mask(this.maxTokens - this.produced),
      validPrefix: (tokens) => matcher.validPrefix(tokens),
      allows: (token) => matcher.allows(token, this.maxTokens - this.produced),
      memoizedMask: () => matcher.memoizedMask(this.maxTokens - this.produced),
    };
  }

  /** Advances the grammar by a generated token (a lazy one only watches for its trigger until it fires). */
  private advanceGrammar(matcher: GrammarMatcher, token: number): void {
    if (!this.watch) return matcher.accept(token);
    if (this.tokenizer.isEndOfGeneration(token)) return;
    const start = this.watch.push(matcher.grammar.trie.pieces[token]!);
    if (!start) return;
    this.watch = undefined;
    // The trigger may sit inside the token, with more text after it: the grammar starts at the trigger.
    if (!matcher.acceptBytes(start)) {
      throw new GrammarError(`the output's text from its trigger on ("${new TextDecoder().decode(start)}") does not match the grammar`);
    }
    this.constrain(matcher);
  }

  get result(): Promise<GenerationResult> {
    return this.resultPromise;
  }

  onToken(seq: Sequence, token: number): FinishReason | undefined {
    if (this.firstTokenAt === 0) this.firstTokenAt = performance.now();
    this.produced++;
    this.sampler.accept(token);
    if (this.matcher) this.advanceGrammar(this.matcher, token);
    if (!this.ignoreEos && this.tokenizer.isEndOfGeneration(token)) return "eos";
    const { emit, stopped } = this.stops.push(this.decoder.push(token));
    this.text += emit;
    const logprob = this.recorder?.last;
    if (logprob) this.logprobs.push(logprob);
    if (this.streaming) this.push(logprob ? { token, text: emit, logprob } : { token, text: emit });
    if (stopped) return "stop";
    // The grammar is complete and nothing may follow: end here rather than sample the only token left (EOS).
    if (this.matcher && !this.watch && this.matcher.mustEnd) return "stop";
    return seq.generated >= this.maxTokens ? "length" : undefined;
  }

  /** Tokens this request may still generate. */
  tokensLeft(seq: Sequence): number {
    return this.maxTokens - seq.generated;
  }

  onFinish(seq: Sequence, reason: FinishReason, error?: Error): void {
    if (this.settled) return;
    this.settled = true;
    if (error) {
      this.rejectResult(error);
    } else {
      if (reason !== "stop") {
        const tail = this.stops.push(this.decoder.flush()).emit + this.stops.flush();
        this.text += tail;
        if (this.streaming && tail) this.push({ token: -1, text: tail });
      }
      let result: GenerationResult;
      try {
        result = this.buildResult(seq, reason);
      } catch (e) {
        this.rejectResult(e as Error);
        this.wake?.();
        return;
      }
      this.resolveResult(result);
    }
    this.wake?.();
  }

  private buildResult(seq: Sequence, finishReason: FinishReason): GenerationResult {
    const end = performance.now();
    const generated = seq.tokens.slice(seq.promptLength);
    if (finishReason === "eos") generated.pop();
    const ttftMs = (this.firstTokenAt || end) - this.submittedAt;
    const decodeMs = end - (this.firstTokenAt || end);
    return {
      text: this.text,
      ...(this.constraint?.parse && { value: this.constraint.parse(this.text, finishReason) }),
      tokens: generated,
      promptTokens: Array.from(this.promptTokens),
      finishReason,
      stats: {
        promptTokens: this.promptTokens.length,
        promptTokensCached: seq.promptCached,
        promptTokensComputed: seq.promptComputed,
        generatedTokens: generated.length,
        ttftMs,
        totalMs: end - this.submittedAt,
        prefillTokensPerS: ttftMs > 0 ? (this.promptTokens.length / ttftMs) * 1000 : 0,
        decodeTokensPerS: decodeMs > 0 && generated.length > 1 ? ((generated.length - 1) / decodeMs) * 1000 : 0,
        preemptions: seq.preemptions,
        ...this.extraStats?.(),
      },
      ...(this.recorder && { logprobs: this.logprobs }),
    };
  }

  private push(e: TokenEvent): void {
    this.queue.push(e);
    this.wake?.();
  }

  /** The token events, ending when the generation finishes; rejects if it failed. */
  async *events(): AsyncGenerator<TokenEvent> {
    for (;;) {
      while (this.queue.length > 0) yield this.queue.shift()!;
      if (this.settled) {
        await this.resultPromise; // rethrows a failure
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

/** The sampler's share of the options (it rejects keys it does not know). */
function samplingPart(options: GenerateOptions): SamplingOptions {
  const { maxTokens, stop, signal, addSpecial, parseSpecial, renderSpecial, ignoreEos, speculative, earlyExit, logprobs, grammar, jsonSchema, schema, grammarTriggers, thinking, promptArithmetic, ...sampling } = options;
  return sampling;
}
