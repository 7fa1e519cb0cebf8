import type { Engine } from "../engine.ts";
import type { GenerateOptions } from "../generation.ts";
import type { GgufFile } from "../gguf/index.ts";
import { ChatTemplate, type ChatMessage, type RenderOptions } from "./template.ts";

/** How a rendered chat prompt is tokenized, as llama.cpp's server does: BOS as the vocabulary asks, special tokens parsed. */
export const CHAT_ENCODE: Required<Pick<GenerateOptions, "addSpecial" | "parseSpecial">> = { addSpecial: true, parseSpecial: true };

const templates = new WeakMap<GgufFile, Promise<ChatTemplate>>();

/** The model's own chat template, parsed once per model file. */
export function modelTemplate(f: GgufFile): Promise<ChatTemplate> {
  let t = templates.get(f);
  if (!t) {
    templates.set(f, (t = ChatTemplate.load(f)));
    t.catch(() => templates.delete(f));
  }
  return t;
}

/**
 * A conversation as a prompt for `engine.generate()`/`stream()`: the model's chat template rendered (or
 * `template`), and the encode options that tokenize it as llama.cpp does. The OpenAI-compatible server and
 * `generate --chat` call this; ChatSession does the same per turn and also reuses the previous turn's tokens.
 */
export async function chatPrompt(
  engine: Engine,
  messages: readonly ChatMessage[],
  options: RenderOptions & { template?: ChatTemplate } = {},
): Promise<{ prompt: string; options: Required<Pick<GenerateOptions, "addSpecial" | "parseSpecial">> }> {
  const template = options.template ?? (await modelTemplate(engine.model.file));
  return { prompt: template.render(messages, options), options: CHAT_ENCODE };
}
