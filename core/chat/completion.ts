import type { Engine } from "../engine.ts";
import type { GenerateOptions, GenerationResult } from "../generation.ts";
import { GrammarError, SchemaError } from "../sampling/grammar/errors.ts";
import { thinkingStart } from "../sampling/grammar/thinking.ts";
import type { FinishReason } from "../scheduler/sequence.ts";
import { CHAT_ENCODE, modelTemplate } from "./prompt.ts";
import type { ChatMessage, ChatTemplate } from "./template.ts";
import { EventQueue } from "./event-queue.ts";
import { ThinkingSplitter } from "./thinking.ts";
import { toolFamilyOf, type ToolFamily, type ToolFamilyName } from "./tools/families.ts";
import { checkTools, ToolError, type ChatTool, type ToolCall, type ToolChoice } from "./tools/types.ts";

export interface ChatRequestOptions {
  /** Functions the model may call, and whether it must (default "auto" with tools). */
  tools?: ChatTool[];
  toolChoice?: ToolChoice;
  /** Several calls in one answer, where the template's family writes them (default true). */
  parallelToolCalls?: boolean;
  /** The template's thinking switch (`enable_thinking`). */
  enableThinking?: boolean;
  /** A template instead of the model's own. */
  template?: ChatTemplate;
}

export type ChatCompletionOptions = ChatRequestOptions & Omit<GenerateOptions, "addSpecial" | "parseSpecial" | "grammarTriggers" | "thinking">;

/** A conversation ready to generate: its prompt, the generation options that go with it, and readers for outputs. */
export interface PreparedChat {
  prompt: string;
  /** The caller's options plus the encode options, the tool-call grammar (lazy for "auto") and the thinking start. */
  options: GenerateOptions;
  /** The template's tool-call family (undefined when the request calls no tools). */
  family: ToolFamilyName | undefined;
  /** A reader for one output of this request. */
  reader(): ChatOutputReader;
}

/**
 * Renders a conversation with the model's chat template (its own tool format: the tools as the template lays
 * them out) and builds the constraint of the tool choice: "required" or a named function holds the answer to the
 * family's call syntax from the start (after a think block), "auto" lets the model answer in prose unless it
 * starts a call, which is then held to the syntax (a lazy grammar, as llama.cpp's tool calling does). Bad tools
 * or a tool choice naming no tool throw ToolError naming the field.
 */
export async function prepareChat(engine: Engine, messages: readonly ChatMessage[], options: ChatCompletionOptions = {}): Promise<PreparedChat> {
  const { tools: givenTools, toolChoice, parallelToolCalls, enableThinking, template: givenTemplate, ...generate } = options;
  const template = givenTemplate ?? (await modelTemplate(engine.model.file));
  const { tools, choice } = checkTools(givenTools, toolChoice);
  if (parallelToolCalls !== undefined && typeof parallelToolCalls !== "boolean") throw new ToolError("parallel_tool_calls", "expected true or false");
  const family = toolFamilyOf(template.source);
  const calling = tools.length > 0 && choice !== "none";
  const rendered = tools.length > 0 ? family.render(messages, tools, choice) : { messages: [...messages], variables: {} };
  const prompt = template.render(rendered.messages, { addGenerationPrompt: true, enableThinking, variables: rendered.variables });
  const thinking = thinkingStart(prompt, template.source.includes("<think>"));
  const out: GenerateOptions = { ...generate, ...CHAT_ENCODE, ...(thinking && { thinking }) };
  if (calling) {
    const given = (["grammar", "jsonSchema", "schema"] as const).find((k) => generate[k] !== undefined);
    if (given) throw new ToolError("tool_choice", `tool calls cannot be combined with a response format, grammar or schema (${given} given); use tool_choice "none"`);
    const g = family.grammar(tools, choice, (parallelToolCalls ?? true) && family.parallel);
    try {
      out.grammar = engine.grammar(g.gbnf, { root: g.root });
    } catch (e) {
      if (e instanceof GrammarError || e instanceof SchemaError) throw new ToolError("tools", e.message);
      throw e;
    }
    if (g.triggers) out.grammarTriggers = g.triggers;
    // Call markers may be control tokens ([TOOL_CALLS]): the reader must see them (llama.cpp's preserved tokens).
    out.renderSpecial = true;
  }
  return {
    prompt, options: out, family: calling ? family.name : undefined,
    reader: () => new ChatOutputReader(calling ? family : undefined, thinking === "thinking"),
  };
}

/** A streamed piece of a tool call: the first names it (id, name), later ones add to its arguments' JSON text. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  name?: string;
  arguments: string;
}

/** What one piece of output added: thinking, prose, tool calls. */
export interface ChatDelta {
  reasoning: string;
  content: string;
  toolCalls: ToolCallDelta[];
}

/** The assistant's message, parsed from its output. */
export interface ChatAnswer {
  content: string;
  /** The think block's text, when the request calls tools and the model thought. */
  reasoning: string;
  toolCalls: ToolCall[];
}

/**
 * Reads one output of a prepared chat as it streams: with tools, the think block apart (it never holds calls),
 * prose apart from calls, and each call's name once written and its arguments as they grow. Prose that may be
 * the start of a call marker is held back until it is known not to be one. Without tools the output is prose.
 */
export class ChatOutputReader {
  private readonly splitter: ThinkingSplitter | undefined;
  private answer = "";
  private reasoning = "";
  private sentContent = "";
  private readonly sent: { id: string; arguments: number }[] = [];
  private parsed: ReturnType<ToolFamily["parse"]> = { content: "", calls: [] };

  constructor(private readonly family: ToolFamily | undefined, thinkingOpen: boolean) {
    if (family) this.splitter = new ThinkingSplitter(thinkingOpen);
  }

  push(text: string): ChatDelta {
    if (!this.family) {
      this.sentContent += text;
      return { reasoning: "", content: text, toolCalls: [] };
    }
    const parts = this.splitter!.push(text);
    return this.advance(parts.thinking, parts.answer, false);
  }

  /** The output ended: releases what was held back. */
  finish(): ChatDelta {
    if (!this.family) return { reasoning: "", content: "", toolCalls: [] };
    const parts = this.splitter!.flush();
    return this.advance(parts.thinking, parts.answer, true);
  }

  /** The message so far (whole after finish()). */
  get message(): ChatAnswer {
    if (!this.family) return { content: this.sentContent, reasoning: "", toolCalls: [] };
    return {
      content: this.parsed.content,
      reasoning: this.reasoning.trim(),
      toolCalls: this.parsed.calls.flatMap((c, i) => (c.name === undefined ? [] : [{ id: this.sent[i]!.id, name: c.name, arguments: c.arguments }])),
    };
  }

  /** OpenAI's finish reason for this output: "tool_calls" when it ended on its calls. */
  finishReason(reason: FinishReason): "stop" | "length" | "tool_calls" {
    if (reason === "length" || reason === "context") return "length";
    return this.message.toolCalls.length > 0 ? "tool_calls" : "stop";
  }

  private advance(thinking: string, answer: string, done: boolean): ChatDelta {
    const family = this.family!;
    this.reasoning += thinking;
    // The answer's leading whitespace (after a think block) is not prose.
    this.answer = (this.answer + answer).replace(/^\s+/, "");
    this.parsed = family.parse(this.answer);
    const content = done ? this.parsed.content : this.parsed.content.trimEnd();
    let contentDelta = "";
    if (content.startsWith(this.sentContent)) {
      contentDelta = content.slice(this.sentContent.length);
      this.sentContent = content;
    }
    const toolCalls: ToolCallDelta[] = [];
    this.parsed.calls.forEach((c, index) => {
      if (c.name === undefined) return;
      let sent = this.sent[index];
      const delta: ToolCallDelta = { index, arguments: "" };
      if (!sent) {
        sent = this.sent[index] = { id: family.newCallId(), arguments: 0 };
        delta.id = sent.id;
        delta.name = c.name;
      }
      delta.arguments = c.arguments.slice(sent.arguments);
      sent.arguments = c.arguments.length;
      if (delta.name !== undefined || delta.arguments !== "") toolCalls.push(delta);
    });
    return { reasoning: thinking, content: contentDelta, toolCalls };
  }
}

/** Events of chatCompletion(): each output piece parsed (see ChatOutputReader), with the token that released it. */
export interface ChatCompletionEvent extends ChatDelta {
  token: number;
}

export interface ChatCompletionResult extends ChatAnswer {
  finishReason: "stop" | "length" | "tool_calls" | "abort" | "error";
  generation: GenerationResult;
}

export interface ChatCompletionStream extends AsyncIterable<ChatCompletionEvent> {
  readonly result: Promise<ChatCompletionResult>;
}

/**
 * One assistant turn for a conversation, with tool calling: the answer's prose, its thinking and its tool calls,
 * streamed as they are written and in the result. Stateless: the caller keeps the conversation (an assistant
 * message with `toolCalls`, then "tool" messages with their results).
 */
export function chatCompletion(engine: Engine, messages: readonly ChatMessage[], options: ChatCompletionOptions = {}): ChatCompletionStream {
  const events = new EventQueue<ChatCompletionEvent>();
  const emit = (token: number, d: ChatDelta) => {
    if (d.content || d.reasoning || d.toolCalls.length) events.push({ token, ...d });
  };
  const result = (async (): Promise<ChatCompletionResult> => {
    const chat = await prepareChat(engine, messages, options);
    const reader = chat.reader();
    const stream = engine.stream(chat.prompt, chat.options);
    for await (const e of stream) emit(e.token, reader.push(e.text));
    const generation = await stream.result;
    emit(-1, reader.finish());
    const reason = generation.finishReason;
    return { ...reader.message, finishReason: reason === "abort" || reason === "error" ? reason : reader.finishReason(reason), generation };
  })();
  result.then(() => events.end(), (e: Error) => events.end(e));
  return { result, [Symbol.asyncIterator]: () => events.iterate() };
}
