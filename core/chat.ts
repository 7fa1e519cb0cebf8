import type { Engine } from "./engine.ts";
import type { GenerateOptions } from "./generation.ts";
import { applyChatTemplate, type ChatMessage } from "./tokenizer/index.ts";

/**
 * Renders chat messages with the model's template (tokenizer.chat_template) into a prompt and the encode options
 * it needs: special-token text in it is parsed, and BOS is added only when the template did not write it.
 */
export async function chatPrompt(engine: Engine, messages: ChatMessage[]): Promise<{ prompt: string; options: Pick<GenerateOptions, "addSpecial" | "parseSpecial"> }> {
  const prompt = await applyChatTemplate(engine.model.file, messages);
  const { bos } = engine.model.tokenizer;
  const hasBos = bos !== undefined && prompt.startsWith(engine.model.tokenizer.tokenText(bos));
  return { prompt, options: { addSpecial: !hasBos, parseSpecial: true } };
}
