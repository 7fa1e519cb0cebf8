import { chatPrompt } from "../core/chat.ts";
import type { Engine } from "../core/engine.ts";
import type { GenerateOptions } from "../core/generation.ts";
import type { ChatMessage } from "../core/tokenizer/index.ts";

/** Which template renders a model's chat requests: its own (tokenizer.chat_template) or llama.cpp's fallback. */
export type ChatTemplateName = "model" | "chatml";

export function chatTemplateOf(engine: Engine): ChatTemplateName {
  return typeof engine.model.file.metadata.get("tokenizer.chat_template") === "string" ? "model" : "chatml";
}

/**
 * The prompt of a conversation and the encode options it needs. A model without a template gets ChatML, as
 * llama-server falls back to it: `<|im_start|>role\ncontent<|im_end|>\n` per message, then the assistant's opening.
 */
export async function renderChat(
  engine: Engine,
  messages: ChatMessage[],
): Promise<{ prompt: string; options: Pick<GenerateOptions, "addSpecial" | "parseSpecial"> }> {
  if (chatTemplateOf(engine) === "model") return chatPrompt(engine, messages);
  const prompt = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n";
  return { prompt, options: { addSpecial: true, parseSpecial: true } };
}
