import { ChatSession, type ChatSessionOptions } from "./chat/session.ts";
import { chatCompletion, type ChatCompletionOptions, type ChatCompletionStream } from "./chat/completion.ts";
import type { ChatMessage } from "./chat/template.ts";
import { Generation, type GenerateOptions, type GenerationResult, type TokenEvent } from "./generation.ts";
import { BlockManager } from "./kv/block-manager.ts";
import { kvPoolSizes } from "./kv/pool-size.ts";
import { WindowBlocks } from "./kv/window-blocks.ts";
import { ARITHMETICS, Model, type Arithmetic, type KvType } from "./model/model.ts";
import { promptRowArithmetic } from "./model/row-arithmetic.ts";
import { native, type NativeKvCache } from "./native.ts";
import { Scheduler, type BatchingOptions, type ScheduledChunk } from "./scheduler/scheduler.ts";
import { Sequence } from "./scheduler/sequence.ts";
import { StepBuffers } from "./scheduler/step-buffers.ts";
import { EarlyExitController } from "./earlyexit/controller.ts";
import { frequentTokens } from "./earlyexit/exit-head.ts";
import { resolveEarlyExit } from "./earlyexit/options.ts";
import { resolveSpeculativeOptions } from "./speculative/options.ts";
import { resolveConstraint } from "./sampling/grammar/constraint.ts";
import { Grammar, type GrammarOptions } from "./sampling/grammar/grammar.ts";
import type { GrammarVocabulary } from "./sampling/grammar/token-trie.ts";
import type { z, ZodType } from "zod";
import { likelyTokens } from "./speculative/likely-tokens.ts";
import { greedyToken, Speculator, type DraftModel, type VerifyRows } from "./speculative/speculator.ts";

export interface EngineOptions extends Partial<BatchingOptions> {
  /** Path of a GGUF model file. */
  model: string;
  /** Threads for the native forward (default: all cores). */
  threads?: number;
  /** Most positions one sequence may use (default: the model's context length, at most 4096). */
  contextSize?: number;
  /** Tokens per KV block (default 16). */
  kvBlockSize?: number;
  /** KV element type (default f16; q8_0 needs a head size that is a multiple of 32). */
  kvType?: KvType;
  /** Memory budget of the KV pool in MiB (default: 256, and at least one full context). */
  kvMemoryMiB?: number;
  /** A GGUF with the target's vocabulary, for speculative decoding with `speculative: { mode: "draft" }`. */
  draftModel?: string;
  /**
   * Threads the draft model drafts with, at most `threads` (default: 1 for a draft model of less than
   * DRAFT_ONE_THREAD_BYTES of weights, else all). A small draft's matmuls are too small to split: a parallel
   * section's hand-off costs about what its share of the work does, and a draft token is ~40 of them.
   */
  draftThreads?: number;
  /**
   * Whether a lone greedy drafting sequence's next drafts are drafted on another thread while the engine handles a
   * step's result, from the verify's own argmax (default true; output is the same either way).
   */
  draftAhead?: boolean;
  /** Early exit's confidence test uses the head rows of this many frequent tokens (default 0: the full head). */
  earlyExitHead?: number;
  /** Which of llama.cpp's arithmetics to reproduce (default "prompt", its generation path; see Arithmetic). */
  arithmetic?: Arithmetic;
  /**
   * Keep every position of the sliding-window layers (llama.cpp's --swa-full), as the other layers do. Default
   * false: a model with sliding-window layers keeps their K/V in blocks of their own, only the window's.
   */
  swaFullCache?: boolean;
}

export interface BlockCounts {
  total: number;
  used: number;
  free: number;
  cached: number;
}

export interface EngineStats {
  /** KV blocks: held by sequences (used), free to hand out (free), and of the free ones, still holding a cached prefix. */
  blocks: BlockCounts;
  /** The sliding-window layers' blocks, when the model keeps them apart (only the window's positions stay). */
  windowBlocks?: BlockCounts;
  /** Bytes of K/V the blocks held by sequences take (used blocks of both pools). */
  kvBytesUsed: number;
  /** Prefix cache: prompt tokens looked up, found (not recomputed), their ratio, and cached blocks evicted. */
  prefixCache: { lookedUpTokens: number; hitTokens: number; hitRate: number; evictions: number };
  waiting: number;
  running: number;
  preemptions: number;
  steps: number;
  promptTokensComputed: number;
  tokensGenerated: number;
  /** Generated tokens per second over the last ~2 seconds of steps. */
  tokensPerS: number;
}

export const DEFAULT_BATCHING: BatchingOptions = { maxSeqs: 32, maxBatchTokens: 512, maxWaitMs: 0, prefixCaching: true };

/** What one engine step did, for observers (tests, monitoring). */
export interface StepInfo {
  step: number;
  /** Sequences in the step, tokens decoded (one per decoding sequence) and prompt tokens prefilled. */
  sequences: number;
  decodeTokens: number;
  prefillTokens: number;
  /** After the step: the most KV slots any running sequence holds beyond its computed tokens. */
  maxUnusedSlots: number;
  /** Wall time of the native forward. */
  forwardMs: number;
}

/** A stream of token events that also exposes the final result. */
export interface GenerationStream extends AsyncIterable<TokenEvent> {
  readonly result: Promise<GenerationResult>;
}

/**
 * The public engine: a model, a paged KV pool, and a continuous-batching loop. Any number of generate() and
 * stream() calls may be in flight; each engine step runs every scheduled sequence in one native call, off the
 * event loop.
 */
export class Engine {
  private readonly scheduler: Scheduler;
  private readonly buffers: StepBuffers;
  private nextId = 0;
  private loopRunning = false;
  private closed = false;
  private counters = { steps: 0, promptTokens: 0, generated: 0 };
  private readonly rate: { t: number; n: number }[] = [];
  private readonly speculator: Speculator;
  private readonly earlyExit: EarlyExitController;
  private readonly stepListeners = new Set<(info: StepInfo) => void>();
  /** Compiled grammars by source (and root), so requests with the same grammar share its memoized masks. */
  private readonly grammars = new Map<string, Grammar>();
  private grammarVocabulary: GrammarVocabulary | undefined;

  private constructor(
    readonly model: Model,
    private readonly kv: NativeKvCache,
    readonly blocks: BlockManager,
    /** The sliding-window layers' blocks, when kept apart. */
    readonly window: WindowBlocks | undefined,
    /** Bytes of K/V one position takes in the main blocks and in the window blocks. */
    private readonly kvTokenBytes: { global: number; window: number },
    readonly contextSize: number,
    batching: BatchingOptions,
    private readonly draft: DraftModel | undefined,
    /** What the load found questionable but allowed (a context longer than the model's training context). */
    readonly warnings: readonly string[],
  ) {
    this.scheduler = new Scheduler(blocks, batching, contextSize, window);
    this.buffers = new StepBuffers(model.hparams.nVocab, window !== undefined);
    this.speculator = new Speculator(model, kv, blocks, window, contextSize, draft);
    this.earlyExit = new EarlyExitController(model.hparams.nLayer);
  }

  static async load(options: EngineOptions): Promise<Engine> {
    if (options.threads !== undefined) native.setThreads(checkInt("threads", options.threads, 1, 512));
    const arithmetic = options.arithmetic ?? "prompt";
    if (!ARITHMETICS.includes(arithmetic)) throw new RangeError(`arithmetic must be one of ${ARITHMETICS.join(", ")}, got ${String(arithmetic)}`);
    const model = await Model.loadAsync(options.model, arithmetic);
    const contextSize = checkInt("contextSize", options.contextSize ?? Math.min(model.hparams.contextLength, 4096), 1, 1 << 20);
    model.setContextSize(contextSize);
    const warnings = contextSize > model.hparams.contextLength
      ? [`the context size ${contextSize} is longer than the ${model.hparams.contextLength} tokens the model was trained on: expect worse output past ${model.hparams.contextLength}`]
      : [];
    const blockSize = checkInt("kvBlockSize", options.kvBlockSize ?? 16, 1, 4096);
    const kvType = options.kvType ?? "f16";
    if (!KV_TYPES.includes(kvType)) throw new RangeError(`kvType must be one of ${KV_TYPES.join(", ")}, got ${String(kvType)}`);
    if (kvType === "q8_0" && model.hparams.headDim % 32 !== 0) {
      throw new RangeError(`kvType q8_0 needs a head size that is a multiple of 32; this model's is ${model.hparams.headDim}`);
    }
    const budgetBytes = (options.kvMemoryMiB ?? 256) * 2 ** 20;
    if (!(budgetBytes > 0)) throw new RangeError(`kvMemoryMiB must be positive, got ${options.kvMemoryMiB}`);
    const batching = validateBatching({ ...DEFAULT_BATCHING, ...pickBatching(options) });
    const windowed = !options.swaFullCache && model.windowLayers() !== undefined;
    const tokenBytes = {
      global: model.kvBytesPerToken(kvType, windowed ? "global" : "all"), window: windowed ? model.kvBytesPerToken(kvType, "window") : 0,
    };
    const { nBlocks, nWindowBlocks } = kvPoolSizes({
      budgetBytes, blockSize, contextSize, window: model.window, maxSeqs: batching.maxSeqs, maxBatchTokens: batching.maxBatchTokens,
      globalBytesPerToken: tokenBytes.global, windowBytesPerToken: tokenBytes.window,
    });
    const kv = model.createKvCache(nBlocks, blockSize, kvType, nWindowBlocks);
    const exitHead = checkInt("earlyExitHead", options.earlyExitHead ?? 0, 0, model.hparams.nVocab);
    if (exitHead > 0) model.setExitHead(frequentTokens(model.file, exitHead));
    const draftThreads = options.draftThreads === undefined ? undefined : checkInt("draftThreads", options.draftThreads, 1, 512);
    const draft = options.draftModel === undefined ? undefined : loadDraftModel(options.draftModel, model, nBlocks, blockSize, kvType, draftThreads, contextSize, checkBool("draftAhead", options.draftAhead ?? true));
    // A small draft's head is most of a draft token (stories15M: 9.2M of 15M multiply-adds): its reduced head starts
    // from the tokens it rates highest, so a fresh engine drafts over a quarter of it from the first step.
    if (draft && weightBytes(draft.model) < DRAFT_ONE_THREAD_BYTES) draft.likely = await likelyTokens(draft, DRAFT_LIKELY_TOKENS);
    const blocks = new BlockManager(nBlocks, blockSize, (src, dst) => kv.copyBlock(src, dst));
    const window = windowed ? new WindowBlocks(new BlockManager(nWindowBlocks, blockSize, (src, dst) => kv.copyBlock(src, dst, true)), model.window) : undefined;
    return new Engine(model, kv, blocks, window, tokenBytes, contextSize, batching, draft, warnings);
  }

  get batching(): Readonly<BatchingOptions> {
    return this.scheduler.options;
  }

  /** Changes batching settings; they apply from the next step. */
  configure(options: Partial<BatchingOptions>): void {
    this.scheduler.options = validateBatching({ ...this.scheduler.options, ...pickBatching(options) });
  }

  tokenize(text: string, options: Pick<GenerateOptions, "addSpecial" | "parseSpecial"> = {}): Int32Array {
    return this.model.tokenizer.encode(text, options);
  }

  /** With a zod `schema`, the result's `value` is the output parsed by it (typed by the schema). */
  generate<S extends ZodType>(prompt: string | ArrayLike<number>, options: GenerateOptions & { schema: S }): Promise<GenerationResult<z.output<S>> & { value: z.output<S> }>;
  generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): Promise<GenerationResult>;
  generate(prompt: string | ArrayLike<number>, options: GenerateOptions = {}): Promise<GenerationResult> {
    return this.submit(prompt, options).result;
  }

  /**
   * A GBNF grammar (llama.cpp's format) compiled for this model's vocabulary, for `generate(p, { grammar })`.
   * Compiled once per source: every request using it shares the memoized token masks. Throws GrammarError
   * naming the line and column of a malformed grammar.
   */
  grammar(source: string, options: GrammarOptions = {}): Grammar {
    if (typeof source !== "string") throw new TypeError(`grammar source must be a string, got ${typeof source}`);
    const key = `${options.root ?? "root"}\n${options.maskCacheBytes ?? ""}\n${source}`;
    let g = this.grammars.get(key);
    if (!g) {
      const tok = this.model.tokenizer;
      this.grammarVocabulary ??= {
        vocabSize: tok.vocabSize,
        piece: (id, special) => tok.piece(id, special),
        isEndOfGeneration: (id) => tok.isEndOfGeneration(id),
      };
      g = new Grammar(source, this.grammarVocabulary, options, (text) => {
        const ids = tok.encode(text, { addSpecial: false, parseSpecial: true });
        return ids.length === 1 ? ids[0] : undefined;
      });
      if (this.grammars.size >= 64) this.grammars.delete(this.grammars.keys().next().value!);
      this.grammars.set(key, g);
    }
    return g;
  }

  /** A conversation with the model's chat template (or options.template), reusing the KV cache across turns. */
  chat(options: ChatSessionOptions = {}): Promise<ChatSession> {
    return ChatSession.create(this, options);
  }

  /**
   * One assistant turn for `messages` with the model's chat template, with tool calling (`tools`, `toolChoice`:
   * "auto", "none", "required" or a named function): streams the answer's prose, thinking and tool-call pieces;
   * the result holds the parsed message (`content`, `reasoning`, `toolCalls`) and finishReason "tool_calls"
   * when it ended on calls. Stateless: pass the whole conversation each time.
   */
  chatCompletion(messages: readonly ChatMessage[], options: ChatCompletionOptions = {}): ChatCompletionStream {
    return chatCompletion(this, messages, options);
  }

  stream(prompt: string | ArrayLike<number>, options: GenerateOptions = {}): GenerationStream {
    const g = this.submit(prompt, options);
    g.streaming = true;
    return { result: g.result, [Symbol.asyncIterator]: () => g.events() };
  }

  /**
   * Logits after every position of `tokens`, as one Float32Array of tokens.length rows (perplexity, tests).
   * Runs beside any generations, with blocks of its own that are freed afterwards.
   */
  async logits(tokens: ArrayLike<number>): Promise<Float32Array> {
    const n = tokens.length, vocab = this.model.hparams.nVocab;
    if (n === 0 || n > this.contextSize) throw new RangeError(`logits: need 1 to ${this.contextSize} tokens, got ${n}`);
    const table: number[] = [], windowTable: number[] = [];
    if (!this.blocks.ensureCapacity(table, n)) throw new Error("logits: the KV pool has no room right now");
    try {
      const out = new Float32Array(n * vocab);
      const chunk = Math.min(this.scheduler.options.maxBatchTokens, this.window?.maxChunk() ?? Infinity);
      const flags = this.promptArithmetic(n);
      for (let start = 0; start < n; start += chunk) {
        const count = Math.min(chunk, n - start);
        if (this.window && !this.window.ensure(windowTable, start, start + count)) throw new Error("logits: the KV pool has no room right now");
        const ids = Int32Array.from({ length: count }, (_, i) => tokens[start + i]!);
        await this.model.forward(this.kv, {
          tokens: ids,
          positions: Int32Array.from({ length: count }, (_, i) => start + i),
          seqIds: new Int32Array(count),
          blockTables: Int32Array.from(table),
          tableOffsets: Int32Array.of(0, table.length),
          ...(this.window ? { windowBlockTables: Int32Array.from(windowTable), windowTableOffsets: Int32Array.of(0, windowTable.length) } : {}),
          logitRows: Int32Array.from({ length: count }, (_, i) => i),
          logits: out.subarray(start * vocab, (start + count) * vocab),
          rowArithmetic: flags?.subarray(start, start + count),
        });
      }
      return out;
    } finally {
      this.blocks.release(table);
      this.window?.blocks.release(windowTable);
    }
  }

  /** The arithmetic flags of a prompt of n tokens (evaluated as one batch), when the model's arithmetic has them. */
  promptArithmetic(n: number): Uint8Array | undefined {
    return this.model.arithmetic === "prompt" ? promptRowArithmetic(n) : undefined;
  }

  /** Calls `listener` after every engine step; returns the function that stops it. */
  onStep(listener: (info: StepInfo) => void): () => void {
    this.stepListeners.add(listener);
    return () => this.stepListeners.delete(listener);
  }

  stats(): EngineStats {
    const now = performance.now();
    while (this.rate.length > 0 && now - this.rate[0]!.t > 2000) this.rate.shift();
    const n = this.rate.reduce((a, r) => a + r.n, 0);
    const span = this.rate.length > 1 ? now - this.rate[0]!.t : 0;
    return {
      blocks: blockCounts(this.blocks),
      ...(this.window ? { windowBlocks: blockCounts(this.window.blocks) } : {}),
      kvBytesUsed: this.kvBytesUsed(),
      prefixCache: {
        lookedUpTokens: this.scheduler.prefixLookupTokens,
        hitTokens: this.scheduler.prefixHitTokens,
        hitRate: this.scheduler.prefixLookupTokens > 0 ? this.scheduler.prefixHitTokens / this.scheduler.prefixLookupTokens : 0,
        evictions: this.blocks.evictions,
      },
      waiting: this.scheduler.waiting.length,
      running: this.scheduler.running.length,
      preemptions: this.scheduler.preemptions,
      steps: this.counters.steps,
      promptTokensComputed: this.counters.promptTokens,
      tokensGenerated: this.counters.generated,
      tokensPerS: span > 0 ? (n / span) * 1000 : 0,
    };
  }

  /** Bytes of K/V in the blocks sequences hold now. */
  private kvBytesUsed(): number {
    const { global, window } = this.kvTokenBytes;
    return this.blocks.blockSize * (this.blocks.usedBlocks * global + (this.window?.blocks.usedBlocks ?? 0) * window);
  }

  /** Ends every generation (finish reason "abort") and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const seq of [...this.scheduler.waiting, ...this.scheduler.running]) this.finish(seq, "abort");
  }

  private submit(prompt: string | ArrayLike<number>, options: GenerateOptions): Generation {
    if (this.closed) throw new Error("the engine is closed");
    const tokens = typeof prompt === "string" ? this.tokenize(prompt, options) : Int32Array.from(prompt);
    if (tokens.length === 0) throw new RangeError("the prompt is empty (no tokens)");
    const spec = options.speculative && resolveSpeculativeOptions(options.speculative, this.model.hparams.nLayer, this.draft !== undefined);
    const exits = options.earlyExit && resolveEarlyExit(options.earlyExit, this.model.hparams.nLayer);
    const constraint = resolveConstraint(options, (gbnf, root) => this.grammar(gbnf, { root }));
    const g = new Generation(this.model.tokenizer, tokens, options, constraint);
    if (spec && options.logprobs !== undefined) throw new RangeError("logprobs cannot be combined with speculative decoding");
    const given = this.model.arithmetic === "prompt" ? options.promptArithmetic : undefined;
    if (given && given.length !== tokens.length) throw new RangeError(`promptArithmetic has ${given.length} flags for ${tokens.length} prompt tokens`);
    const seq = new Sequence(this.nextId++, tokens, g.picker, g, given ?? this.promptArithmetic(tokens.length));
    const problem = this.scheduler.cannotFit(seq);
    if (problem) {
      g.onFinish(seq, "error", new RangeError(`the prompt (${tokens.length} tokens) ${problem}`));
      return g;
    }
    if (spec) this.speculator.attach(seq, spec, g.sampler, () => g.tokensLeft(seq));
    if (exits) this.earlyExit.attach(seq, exits);
    if (spec || exits) g.extraStats = () => ({ ...this.speculator.stats(seq), ...this.earlyExit.stats(seq) });
    if (options.signal) {
      if (options.signal.aborted) {
        g.onFinish(seq, "abort");
        return g;
      }
      options.signal.addEventListener("abort", () => this.finish(seq, "abort"), { once: true });
    }
    this.scheduler.add(seq);
    void this.runLoop();
    return g;
  }

  private finish(seq: Sequence, reason: Sequence["finished"] & string, error?: Error): void {
    if (seq.finished) return;
    seq.finished = reason;
    this.scheduler.remove(seq);
    seq.sink.onFinish(seq, reason, error);
    this.speculator.detach(seq);
    this.earlyExit.detach(seq);
  }

  private async runLoop(): Promise<void> {
    if (this.loopRunning) return;
    this.loopRunning = true;
    try {
      const wait = this.scheduler.options.maxWaitMs;
      if (wait > 0 && this.scheduler.waiting.length < this.scheduler.options.maxSeqs) {
        await new Promise((r) => setTimeout(r, wait));
      }
      while (this.scheduler.hasWork) {
        await this.speculator.propose(this.scheduler.running);
        const chunks = this.scheduler.schedule();
        if (chunks.length === 0) {
          // Nothing fits even in an empty pool: fail the head of the queue rather than spin.
          const stuck = this.scheduler.waiting[0];
          if (stuck) this.finish(stuck, "error", new Error("the KV pool is too small for this request"));
          continue;
        }
        await this.step(chunks);
      }
    } catch (e) {
      for (const seq of [...this.scheduler.waiting, ...this.scheduler.running]) this.finish(seq, "error", e as Error);
    } finally {
      this.loopRunning = false;
    }
  }

  private async step(chunks: ScheduledChunk[]): Promise<void> {
    const batch = this.buffers.fill(chunks);
    this.earlyExit.plan(chunks, batch);
    // A step whose every sampled row only needs its argmax (greedy, no bias or penalties, no early exit; a verified
    // draft of deterministic proposals) gets just those indices from the forward, which skips most of the head's
    // exact work.
    const argmax = !batch.exitLayers && batch.logitRows.length > 0 && chunks.every((c) =>
      !c.sample || (this.speculator.has(c.seq) ? this.speculator.verifiesByArgmax(c.seq) : c.seq.picker.argmaxSuffices));
    if (argmax) batch.argmax = this.buffers.argmax(batch.logitRows.length);
    // Greedy drafts are drafted in this same native call, just before the forward that verifies them.
    const draft = this.speculator.draftStep(chunks, argmax);
    if (draft) batch.draft = draft;
    const t0 = performance.now();
    await this.model.forward(this.kv, batch);
    const forwardMs = performance.now() - t0;
    if (draft) this.speculator.takeDrafts();
    this.earlyExit.record(chunks, batch);
    this.counters.steps++;
    let row = 0, generated = 0, prefill = 0;
    const emit = (seq: Sequence, token: number): boolean => {
      seq.append(token);
      generated++;
      // "context": the sequence filled its positions before its token budget ran out, which callers must be able to
      // tell apart from "length" (the budget itself).
      const reason = seq.sink.onToken(seq, token) ?? (seq.tokens.length >= this.contextSize ? "context" : undefined);
      if (reason) this.finish(seq, reason);
      return !reason;
    };
    for (const c of chunks) {
      const seq = c.seq;
      if (c.count - c.drafted > 1 || c.start < seq.promptLength) prefill += c.count;
      if (seq.finished) { if (c.sample) row += 1 + c.drafted; continue; } // aborted while the step ran
      seq.computed += c.count;
      if (seq.computed <= seq.promptLength) {
        this.counters.promptTokens += c.count;
        seq.promptComputed += c.count;
      }
      if (c.sample && this.speculator.has(seq)) {
        // Rows for the last token and each draft token; K/V past the accepted draft tokens is rolled back before
        // any full block is offered to the prefix cache.
        const base = row;
        row += 1 + c.drafted;
        const rows: VerifyRows = argmax ? { argmax: (i) => batch.argmax![base + i]! } : { logits: (i) => this.buffers.logitsRow(base + i) };
        const accepted = this.speculator.verify(seq, rows, (t) => emit(seq, t));
        seq.computed -= c.drafted - accepted;
        if (!seq.finished) this.scheduler.registerComputed(seq);
        continue;
      }
      this.scheduler.registerComputed(seq);
      if (c.sample) emit(seq, argmax ? greedyToken(batch.argmax![row++]!) : seq.picker.sample(this.buffers.logitsRow(row++)));
    }
    this.counters.generated += generated;
    this.rate.push({ t: performance.now(), n: generated });
    if (this.rate.length > 4096) this.rate.splice(0, 2048);
    if (this.stepListeners.size > 0) {
      const info: StepInfo = {
        step: this.counters.steps, sequences: chunks.length, decodeTokens: batch.tokens.length - prefill, prefillTokens: prefill,
        maxUnusedSlots: this.scheduler.maxUnusedSlots(), forwardMs,
      };
      for (const listener of this.stepListeners) listener(info);
    }
  }
}

/**
 * Draft models below this many bytes of weights draft on one thread by default. stories15M-q4_0 (13 MB): a
 * 4-token greedy draft took 1.5-1.8 ms on one thread, 1.4 ms on two at best and ~30 ms (median) on two while
 * the machine was loaded, when every one of its ~160 parallel sections waits for a descheduled thread.
 */
export const DRAFT_ONE_THREAD_BYTES = 64 * 2 ** 20;
/** Tokens a small draft's reduced head starts from (likelyTokens): a quarter of a 32000-token vocabulary. */
export const DRAFT_LIKELY_TOKENS = 8192;

function loadDraftModel(
  path: string, target: Model, nBlocks: number, blockSize: number, kvType: KvType, threads: number | undefined, contextSize: number,
  ahead: boolean,
): DraftModel {
  const model = Model.load(path);
  model.setContextSize(contextSize);
  if (model.hparams.nVocab !== target.hparams.nVocab) {
    throw new RangeError(`the draft model has ${model.hparams.nVocab} tokens but the target has ${target.hparams.nVocab}: they must share a vocabulary`);
  }
  // Drafting and verifying alternate every step: one head's bytes between them instead of two stay in cache.
  model.shareHeadWith(target);
  const kv = model.createKvCache(nBlocks, blockSize, kvType);
  return {
    model, kv, blocks: new BlockManager(nBlocks, blockSize, (src, dst) => kv.copyBlock(src, dst)),
    threads: threads ?? (weightBytes(model) < DRAFT_ONE_THREAD_BYTES ? 1 : undefined),
    ahead,
  };
}

function weightBytes(model: Model): number {
  return model.file.tensors.reduce((a, t) => a + t.nBytes, 0);
}

function blockCounts(b: BlockManager): BlockCounts {
  return { total: b.numBlocks, used: b.usedBlocks, free: b.freeBlocks, cached: b.cachedBlocks };
}

const KV_TYPES: readonly KvType[] = ["f16", "f32", "q8_0"];
const BATCHING_KEYS = ["maxSeqs", "maxBatchTokens", "maxWaitMs", "prefixCaching"] as const;

function pickBatching(o: Partial<BatchingOptions>): Partial<BatchingOptions> {
  const out: Record<string, unknown> = {};
  for (const k of BATCHING_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out as Partial<BatchingOptions>;
}

function validateBatching(o: BatchingOptions): BatchingOptions {
  return {
    maxSeqs: checkInt("maxSeqs", o.maxSeqs, 1, 4096),
    maxBatchTokens: checkInt("maxBatchTokens", o.maxBatchTokens, 1, 1 << 16),
    maxWaitMs: checkInt("maxWaitMs", o.maxWaitMs, 0, 60_000),
    prefixCaching: checkBool("prefixCaching", o.prefixCaching),
  };
}

function checkBool(name: string, v: boolean): boolean {
  if (typeof v !== "boolean") throw new TypeError(`${name} must be true or false, got ${String(v)}`);
  return v;
}

function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}
