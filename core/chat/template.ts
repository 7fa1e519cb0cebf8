import type { GgufFile } from "../gguf/index.ts";
import { Vocab } from "../tokenizer/vocab.ts";
import { ChatError } from "./errors.ts";
import { parseArguments } from "./tools/families.ts";
import type { ToolCall } from "./tools/types.ts";

/**
 * One message of a conversation. `reasoning` is an assistant turn's thinking, kept apart from its answer;
 * `toolCalls` the calls an assistant turn made; a "tool" message is a call's result (`toolCallId`, `name`).
 */
export interface ChatMessage {
  role: string;
  content: string;
  reasoning?: string;
  toolCalls?: ToolCall[];
  toolCallId?: string;
  name?: string;
}

export interface RenderOptions {
  /** End with the opening of an assistant turn (default true). */
  addGenerationPrompt?: boolean;
  /** The template's `enable_thinking` switch (Qwen3 and others); undefined leaves the template's default. */
  enableThinking?: boolean;
  /** More template variables (e.g. `date_string`, `tools`). */
  variables?: Record<string, unknown>;
}

/** The part of @huggingface/jinja this module uses. */
interface JinjaModule {
  Template: new (source: string) => { render(context: Record<string, unknown>): string };
}

let jinja: Promise<JinjaModule> | undefined;

/** @huggingface/jinja is loaded on first use, so nothing else pays for it. */
function loadJinja(): Promise<JinjaModule> {
  const name = "@huggingface/jinja";
  jinja ??= (import(name) as Promise<JinjaModule>).catch((e: unknown) => {
    jinja = undefined;
    throw new ChatError(`chat templates need the '${name}' package, which could not be loaded: ${(e as Error).message}`);
  });
  return jinja;
}

const vocabs = new WeakMap<GgufFile, Vocab>();

/** Special-token texts come from the vocabulary, parsed once per file. */
function vocabOf(f: GgufFile): Vocab {
  let v = vocabs.get(f);
  if (!v) vocabs.set(f, (v = new Vocab(f)));
  return v;
}

/**
 * A model's chat template (tokenizer.chat_template, a Jinja template as Hugging Face transformers renders it) or
 * one given instead. Renders a conversation into prompt text the way llama.cpp's common_chat_templates_apply
 * does: bos_token/eos_token are the vocabulary's texts, `enable_thinking` is passed when set, messages carry
 * an assistant turn's thinking as `reasoning_content` (the OpenAI-style field templates such as Qwen3's read),
 * and the BOS (EOS) text the template writes is dropped when the tokenizer adds that token itself.
 */
export class ChatTemplate {
  private constructor(
    readonly source: string,
    private readonly template: { render(context: Record<string, unknown>): string },
    private readonly bos: { text: string; added: boolean },
    private readonly eos: { text: string; added: boolean },
    private readonly where: string,
  ) {}

  /** The model's template, or `source` when given. */
  static async load(f: GgufFile, source?: string): Promise<ChatTemplate> {
    const text = source ?? f.metadata.get("tokenizer.chat_template");
    if (typeof text !== "string") throw new ChatError(`${f.path}: the model has no chat template (tokenizer.chat_template)`);
    const where = source === undefined ? f.path : "the given chat template";
    const { Template } = await loadJinja();
    let template;
    try {
      template = new Template(text);
    } catch (e) {
      throw new ChatError(`${where}: cannot parse chat template: ${(e as Error).message}`);
    }
    const vocab = vocabOf(f);
    const tokenText = (id: number | undefined) => (id === undefined ? "" : vocab.texts[id]!);
    return new ChatTemplate(text, template, { text: tokenText(vocab.bos), added: vocab.addBos }, { text: tokenText(vocab.eos), added: vocab.addEos }, where);
  }

  /** Whether the template reads `enable_thinking`, so thinking can be switched off. */
  get hasThinkingSwitch(): boolean {
    return this.source.includes("enable_thinking");
  }

  /** The conversation as the template writes it, special tokens as text. */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    const context: Record<string, unknown> = {
      messages: messages.map(templateMessage),
      bos_token: this.bos.text,
      eos_token: this.eos.text,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      ...(options.enableThinking === undefined ? {} : { enable_thinking: options.enableThinking }),
      ...options.variables,
    };
    let text: string;
    try {
      text = this.template.render(context);
    } catch (e) {
      throw new ChatError(`${this.where}: chat template failed: ${(e as Error).message}`);
    }
    // As llama.cpp: the tokenizer adds BOS (EOS) itself when the vocabulary asks, so the template's copy goes.
    if (this.bos.added && this.bos.text && text.startsWith(this.bos.text)) text = text.slice(this.bos.text.length);
    if (this.eos.added && this.eos.text && text.endsWith(this.eos.text)) text = text.slice(0, -this.eos.text.length);
    return text;
  }
}

/** A message as templates read it (OpenAI's field names; a call's arguments as a JSON value, as llama.cpp passes them). */
function templateMessage(m: ChatMessage): Record<string, unknown> {
  return {
    role: m.role,
    content: m.content,
    ...(m.reasoning !== undefined && { reasoning_content: m.reasoning }),
    ...(m.toolCalls?.length && {
      tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: parseArguments(c.arguments) } })),
    }),
    ...(m.toolCallId !== undefined && { tool_call_id: m.toolCallId }),
    ...(m.name !== undefined && { name: m.name }),
  };
}

/** Renders the model's chat template for a conversation (a one-off ChatTemplate). */
export async function applyChatTemplate(f: GgufFile, messages: readonly ChatMessage[], options: RenderOptions = {}): Promise<string> {
  return (await ChatTemplate.load(f)).render(messages, options);
}
