import type { Engine } from "../engine.ts";
import type { GenerateOptions, GenerationStats } from "../generation.ts";
import type { FinishReason } from "../scheduler/sequence.ts";
import { ChatError, ContextOverflowError } from "./errors.ts";
import { CHAT_ENCODE, modelTemplate } from "./prompt.ts";
import { ChatTemplate, type ChatMessage } from "./template.ts";
import { EventQueue } from "./event-queue.ts";
import { THINK_OPEN, thinkingStart } from "../sampling/grammar/thinking.ts";
import { opensThinking, ThinkingSplitter, type TurnPart } from "./thinking.ts";

/**
 * What a turn does when the conversation no longer fits the context (with room for the answer): fail and say
 * so ("error"), drop the oldest turns ("shift"), or drop the turns after the first exchange ("truncate-middle").
 * The system prompt and the new user message are never dropped, and dropping is announced before the turn runs.
 */
export type ContextOverflowPolicy = "error" | "shift" | "truncate-middle";
export const CONTEXT_OVERFLOW_POLICIES: readonly ContextOverflowPolicy[] = ["error", "shift", "truncate-middle"];

export interface ContextOverflowNotice {
  policy: ContextOverflowPolicy;
  /** Prompt tokens the whole conversation needed, and after dropping. */
  neededTokens: number;
  keptTokens: number;
  contextSize: number;
  /** Tokens kept free for the answer. */
  reserve: number;
  /** The messages taken out of the conversation (and out of `history`). */
  dropped: ChatMessage[];
}

export interface ChatSessionOptions {
  systemPrompt?: string;
  /** A Jinja chat template to use instead of the model's tokenizer.chat_template. */
  template?: string;
  /** The template's thinking switch (`enable_thinking`); undefined keeps the template's default. */
  enableThinking?: boolean;
  /** Default "error". */
  contextOverflow?: ContextOverflowPolicy;
  /** Called before a turn drops earlier messages to fit. */
  onContextOverflow?: (notice: ContextOverflowNotice) => void;
}

export interface ChatPromptOptions extends Omit<GenerateOptions, "addSpecial" | "parseSpecial"> {
  /** This turn only: the template's thinking switch. */
  enableThinking?: boolean;
}

/** A streamed piece of the assistant's turn: its thinking or its answer. */
export interface ChatEvent {
  /** The token that released this text (-1 for text released at the end). */
  readonly token: number;
  readonly text: string;
  readonly part: TurnPart;
}

export interface ChatTurnStats extends GenerationStats {
  /** Generated tokens of the think block (its tags included) and of the answer, and their decode speeds. */
  thinkingTokens: number;
  answerTokens: number;
  thinkingTokensPerS: number;
  answerTokensPerS: number;
}

export interface ChatTurnResult {
  answer: string;
  /** The turn's thinking ("" when the model did not think). */
  thinking: string;
  finishReason: FinishReason;
  /** The turn's prompt (the whole conversation) and its generated tokens, as in GenerationResult. */
  promptTokens: number[];
  tokens: number[];
  stats: ChatTurnStats;
  /** Messages dropped to make this turn fit (see ContextOverflowPolicy). */
  dropped: ChatMessage[];
}

export interface ChatStream extends AsyncIterable<ChatEvent> {
  readonly result: Promise<ChatTurnResult>;
}

/** A conversation as save() writes it: JSON-safe. `context` lets the next turn reuse the cached tokens exactly. */
export interface SavedChat {
  format: "infer-repl-chat";
  version: 1;
  systemPrompt?: string;
  messages: ChatMessage[];
  enableThinking?: boolean;
  contextOverflow: ContextOverflowPolicy;
  template?: string;
  /** `flags`: the tokens' arithmetic flags as computed (GenerateOptions.promptArithmetic). */
  context?: { text: string; tokens: number[]; flags?: number[] };
}

/** The conversation as the model last saw it: rendered text and its tokens (prompt, then generated tokens). */
interface SeenContext {
  readonly text: string;
  readonly tokens: readonly number[];
  /** The tokens' arithmetic flags as computed (GenerateOptions.promptArithmetic); unknown after a load. */
  readonly flags?: Uint8Array;
}

/**
 * A conversation with a model: a system prompt, the turns so far, and the model's chat template. Each
 * prompt() renders the conversation with the new user message and streams the assistant's turn, thinking apart
 * from the answer. Earlier turns stay in the engine's prefix cache: when the new rendering extends what the model
 * saw last turn, the new prompt is those exact tokens plus the new ones, so only the new ones are computed
 * (`stats.promptTokensCached` / `promptTokensComputed` show it).
 */
export class ChatSession {
  systemPrompt: string | undefined;
  enableThinking: boolean | undefined;
  contextOverflow: ContextOverflowPolicy;
  onContextOverflow: ((notice: ContextOverflowNotice) => void) | undefined;
  private messages: ChatMessage[] = [];
  private seen: SeenContext | undefined;
  private busy = false;

  private constructor(readonly engine: Engine, readonly template: ChatTemplate, options: ChatSessionOptions, private readonly customTemplate: boolean) {
    this.systemPrompt = options.systemPrompt;
    this.enableThinking = options.enableThinking;
    this.contextOverflow = checkPolicy(options.contextOverflow ?? "error");
    this.onContextOverflow = options.onContextOverflow;
  }

  static async create(engine: Engine, options: ChatSessionOptions = {}): Promise<ChatSession> {
    const template = options.template === undefined ? await modelTemplate(engine.model.file) : await ChatTemplate.load(engine.model.file, options.template);
    return new ChatSession(engine, template, options, options.template !== undefined);
  }

  /** The turns so far (without the system prompt). */
  get history(): readonly ChatMessage[] {
    return this.messages;
  }

  /** Whether a turn is running. */
  get running(): boolean {
    return this.busy;
  }

  /** Starts a new conversation (the system prompt and settings stay). */
  reset(): void {
    this.assertIdle("reset");
    this.messages = [];
    this.seen = undefined;
  }

  /** A branch: a new session with this one's conversation so far; both go on separately and share cached K/V. */
  fork(): ChatSession {
    const copy = new ChatSession(this.engine, this.template, this.options(), this.customTemplate);
    copy.messages = this.messages.map((m) => ({ ...m }));
    copy.seen = this.seen;
    return copy;
  }

  save(): SavedChat {
    return {
      format: "infer-repl-chat", version: 1,
      ...(this.systemPrompt === undefined ? {} : { systemPrompt: this.systemPrompt }),
      messages: this.messages.map((m) => ({ ...m })),
      ...(this.enableThinking === undefined ? {} : { enableThinking: this.enableThinking }),
      contextOverflow: this.contextOverflow,
      ...(this.customTemplate ? { template: this.template.source } : {}),
      ...(this.seen ? { context: { text: this.seen.text, tokens: [...this.seen.tokens], ...(this.seen.flags && { flags: Array.from(this.seen.flags) }) } } : {}),
    };
  }

  /** Replaces the conversation and settings with a saved one (the template stays this session's). */
  load(saved: unknown): void {
    this.assertIdle("load");
    const s = checkSaved(saved, this.engine.model.hparams.nVocab);
    this.systemPrompt = s.systemPrompt;
    this.enableThinking = s.enableThinking;
    this.contextOverflow = s.contextOverflow;
    this.messages = s.messages.map((m) => ({ ...m }));
    this.seen = s.context && { text: s.context.text, tokens: s.context.tokens, ...(s.context.flags && { flags: Uint8Array.from(s.context.flags) }) };
  }

  /** The conversation with `text` as the next user message: the assistant's turn, streamed. */
  prompt(text: string, options: ChatPromptOptions = {}): ChatStream {
    if (typeof text !== "string") throw new TypeError(`prompt: the message must be a string, got ${typeof text}`);
    this.assertIdle("prompt");
    this.busy = true;
    const events = new EventQueue<ChatEvent>();
    const result = this.turn(text, options, events).finally(() => (this.busy = false));
    result.then(() => events.end(), (e: Error) => events.end(e));
    return { result, [Symbol.asyncIterator]: () => events.iterate() };
  }

  private async turn(text: string, options: ChatPromptOptions, events: EventQueue<ChatEvent>): Promise<ChatTurnResult> {
    const { enableThinking = this.enableThinking, ...generate } = options;
    const user: ChatMessage = { role: "user", content: text };
    const { prompt, dropped } = this.fit(user, enableThinking, generate.maxTokens ?? 256);

    const splitter = new ThinkingSplitter(opensThinking(prompt.text));
    const parts = { thinking: { tokens: 0, ms: 0, timed: 0, text: "" }, answer: { tokens: 0, ms: 0, timed: 0, text: "" } };
    const emit = (token: number, out: { thinking: string; answer: string }) => {
      // After a think block the answer's leading newlines go, as reasoning templates (Qwen3) write them back; without
      // one the answer is kept as generated, so rendering it next turn gives the very text the model wrote.
      if (parts.answer.text === "" && parts.thinking.tokens > 0) out = { ...out, answer: out.answer.replace(/^\s+/, "") };
      for (const part of ["thinking", "answer"] as const) {
        if (out[part] === "") continue;
        parts[part].text += out[part];
        events.push({ token, text: out[part], part });
      }
    };
    // A constraint (grammar, schema) holds the answer: a think block before it stays free.
    const start = thinkingStart(prompt.text, this.template.source.includes(THINK_OPEN));
    const stream = this.engine.stream(prompt.tokens, { ...generate, ...(start && { thinking: start }), ...(prompt.flags && { promptArithmetic: prompt.flags }) });
    let last = 0;
    for await (const e of stream) {
      const wasThinking = splitter.thinking;
      const out = splitter.push(e.text);
      if (e.token < 0) {
        emit(e.token, out);
        continue;
      }
      const part = wasThinking || splitter.thinking || out.thinking !== "" ? parts.thinking : parts.answer;
      const now = performance.now();
      part.tokens++;
      // A token's time is the gap since the one before; the first token's is prefill and is left out of speeds.
      if (last > 0) {
        part.ms += now - last;
        part.timed++;
      }
      last = now;
      if (out.thinking === "" && out.answer === "") events.push({ token: e.token, text: "", part: part === parts.thinking ? "thinking" : "answer" });
      else emit(e.token, out);
    }
    const result = await stream.result;
    emit(-1, splitter.flush());

    const thought = parts.thinking.tokens > 0;
    const answer = parts.answer.text, thinking = parts.thinking.text.trim();
    this.messages.push(user, { role: "assistant", content: answer, ...(thought ? { reasoning: thinking } : {}) });
    // The answer's tokens extend what the model saw only when its text is exactly their text: not after a stop
    // string (its tokens are not in the text) or a control token (it has no text).
    const exact = result.finishReason !== "stop" && !result.tokens.some((t) => isControl(this.engine, t));
    // Generated tokens are computed as lone tokens (flags 0); the next turn's prompt keeps them that way.
    this.seen = exact
      ? { text: prompt.text + result.text, tokens: [...prompt.tokens, ...result.tokens], ...(prompt.flags && { flags: concatFlags(prompt.flags, new Uint8Array(result.tokens.length)) }) }
      : prompt;
    const speed = (p: { ms: number; timed: number }) => (p.ms > 0 ? (p.timed / p.ms) * 1000 : 0);
    return {
      answer, thinking, finishReason: result.finishReason, dropped, promptTokens: result.promptTokens, tokens: result.tokens,
      stats: {
        ...result.stats,
        thinkingTokens: parts.thinking.tokens, answerTokens: parts.answer.tokens,
        thinkingTokensPerS: speed(parts.thinking), answerTokensPerS: speed(parts.answer),
      },
    };
  }

  /** The prompt for the conversation plus `user`, dropping earlier turns as the overflow policy says. */
  private fit(user: ChatMessage, enableThinking: boolean | undefined, maxTokens: number): { prompt: SeenContext; dropped: ChatMessage[] } {
    const contextSize = this.engine.contextSize;
    const reserve = Math.max(1, Math.min(maxTokens, Math.floor(contextSize / 4)));
    const render = (messages: readonly ChatMessage[]) => this.tokens([...this.systemMessages(), ...messages, user], enableThinking);
    let prompt = render(this.messages);
    const needed = prompt.tokens.length;
    if (needed + reserve <= contextSize) return { prompt, dropped: [] };
    const policy = this.contextOverflow;
    const problem = `the conversation needs ${needed} prompt tokens and ${reserve} more for the answer, but the context holds ${contextSize}`;
    if (policy === "error") {
      throw new ContextOverflowError(`${problem}: start a new conversation, or let turns be dropped (context-overflow shift or truncate-middle)`);
    }
    let kept = this.messages;
    const dropped: ChatMessage[] = [];
    while (prompt.tokens.length + reserve > contextSize) {
      const starts = kept.flatMap((m, i) => (m.role === "user" ? [i] : []));
      // shift drops the oldest turn; truncate-middle keeps the first exchange and drops the one after it.
      const k = policy === "shift" ? 0 : 1;
      if (k >= starts.length) {
        throw new ContextOverflowError(`${problem}, even with every earlier turn it may drop dropped (${policy}): shorten the message or the system prompt, or raise the context size`);
      }
      const from = starts[k]!, to = starts[k + 1] ?? kept.length;
      dropped.push(...kept.slice(from, to));
      kept = [...kept.slice(0, from), ...kept.slice(to)];
      prompt = render(kept);
    }
    this.messages = kept;
    this.onContextOverflow?.({ policy, neededTokens: needed, keptTokens: prompt.tokens.length, contextSize, reserve, dropped });
    return { prompt, dropped };
  }

  /**
   * Renders and tokenizes a conversation. When the text extends what the model saw last turn at a special token
   * (the end of its turn), the tokens are exactly the earlier ones plus the new text's, so the prefix cache
   * covers all but the new tokens; otherwise (the template rewrote earlier turns, the system prompt changed) the
   * whole text is tokenized and the cache reuses whatever prefix still matches.
   */
  private tokens(messages: readonly ChatMessage[], enableThinking: boolean | undefined): SeenContext {
    const text = this.template.render(messages, { addGenerationPrompt: true, enableThinking });
    const tokenizer = this.engine.model.tokenizer;
    let tokens: number[] | undefined;
    if (this.seen && text.startsWith(this.seen.text)) {
      const rest = text.slice(this.seen.text.length);
      const restTokens = tokenizer.encode(rest, { addSpecial: false, parseSpecial: true });
      const plain = tokenizer.encode(rest, { addSpecial: false, parseSpecial: false });
      if (restTokens.length > 0 && restTokens[0] !== plain[0]) tokens = [...this.seen.tokens, ...restTokens];
    }
    tokens ??= Array.from(tokenizer.encode(text, CHAT_ENCODE));
    return { text, tokens, ...this.continuedFlags(tokens) };
  }

  /**
   * The arithmetic flags of a prompt (none in the "token" and "batch" arithmetics): the tokens it shares with what
   * the model saw as they were computed, the rest as one batch after them. That is what llama-server computes for a
   * conversation it keeps, and what the prefix cache holds (its keys carry the flags).
   */
  private continuedFlags(tokens: readonly number[]): { flags?: Uint8Array } {
    const seen = this.seen;
    if (!seen?.flags) {
      const flags = this.engine.promptArithmetic(tokens.length);
      return flags ? { flags } : {};
    }
    let shared = 0;
    while (shared < tokens.length - 1 && shared < seen.tokens.length && tokens[shared] === seen.tokens[shared]) shared++;
    const rest = this.engine.promptArithmetic(tokens.length - shared);
    return rest ? { flags: concatFlags(seen.flags.subarray(0, shared), rest) } : {};
  }

  private systemMessages(): ChatMessage[] {
    return this.systemPrompt === undefined || this.systemPrompt === "" ? [] : [{ role: "system", content: this.systemPrompt }];
  }

  private options(): ChatSessionOptions {
    return {
      systemPrompt: this.systemPrompt, enableThinking: this.enableThinking, contextOverflow: this.contextOverflow,
      onContextOverflow: this.onContextOverflow,
    };
  }

  private assertIdle(what: string): void {
    if (this.busy) throw new ChatError(`${what}: a turn is still running in this session`);
  }
}

function concatFlags(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A token that decodes to no text unless special tokens are rendered (<|im_start|> and the like). */
function isControl(engine: Engine, token: number): boolean {
  const tokenizer = engine.model.tokenizer;
  return tokenizer.decode([token]) === "" && tokenizer.decode([token], { renderSpecial: true }) !== "";
}

function checkPolicy(p: unknown): ContextOverflowPolicy {
  if (!CONTEXT_OVERFLOW_POLICIES.includes(p as ContextOverflowPolicy)) {
    throw new ChatError(`contextOverflow must be one of ${CONTEXT_OVERFLOW_POLICIES.join(", ")}, got ${JSON.stringify(p)}`);
  }
  return p as ContextOverflowPolicy;
}

function checkSaved(v: unknown, nVocab: number): SavedChat {
  const bad = (what: string) => new ChatError(`not a saved conversation: ${what}`);
  if (typeof v !== "object" || v === null) throw bad("expected an object");
  const s = v as Record<string, unknown>;
  if (s["format"] !== "infer-repl-chat" || s["version"] !== 1) throw bad(`format ${JSON.stringify(s["format"])} version ${JSON.stringify(s["version"])} (expected infer-repl-chat version 1)`);
  if (s["systemPrompt"] !== undefined && typeof s["systemPrompt"] !== "string") throw bad("systemPrompt must be a string");
  if (s["enableThinking"] !== undefined && typeof s["enableThinking"] !== "boolean") throw bad("enableThinking must be true or false");
  if (!Array.isArray(s["messages"])) throw bad("messages must be an array");
  for (const [i, m] of (s["messages"] as unknown[]).entries()) {
    const o = m as Record<string, unknown> | null;
    if (typeof o !== "object" || o === null || typeof o["role"] !== "string" || typeof o["content"] !== "string" ||
      (o["reasoning"] !== undefined && typeof o["reasoning"] !== "string")) {
      throw bad(`messages[${i}] must be {role, content[, reasoning]} strings`);
    }
  }
  const c = s["context"] as { text?: unknown; tokens?: unknown; flags?: unknown } | undefined;
  if (c !== undefined && (typeof c !== "object" || c === null || typeof c.text !== "string" || !Array.isArray(c.tokens) ||
    !c.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < nVocab))) {
    throw bad(`context must be {text, tokens} with token ids below ${nVocab}`);
  }
  if (c?.flags !== undefined && (!Array.isArray(c.flags) || c.flags.length !== (c.tokens as unknown[]).length ||
    !c.flags.every((f) => Number.isInteger(f) && f >= 0 && f < 256))) {
    throw bad("context.flags must be one byte per token");
  }
  return { ...(s as unknown as SavedChat), contextOverflow: checkPolicy(s["contextOverflow"] ?? "error") };
}
