import { ChatTemplate, modelTemplate } from "../core/chat/index.ts";
import type { Engine } from "../core/engine.ts";
import type { GgufFile } from "../core/gguf/index.ts";

/** Which template renders a model's chat requests: its own (tokenizer.chat_template) or llama.cpp's fallback. */
export type ChatTemplateName = "model" | "chatml";

export function chatTemplateOf(engine: Engine): ChatTemplateName {
  return typeof engine.model.file.metadata.get("tokenizer.chat_template") === "string" ? "model" : "chatml";
}

/** ChatML, the template llama-server falls back to for a model without one. */
const CHATML =
  "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}" +
  "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

const chatml = new WeakMap<GgufFile, Promise<ChatTemplate>>();

/** The template that renders a model's chat requests: its own, or ChatML without one. */
export function serverTemplate(engine: Engine): Promise<ChatTemplate> {
  const file = engine.model.file;
  if (chatTemplateOf(engine) === "model") return modelTemplate(file);
  let template = chatml.get(file);
  if (!template) chatml.set(file, (template = ChatTemplate.load(file, CHATML)));
  return template;
}
