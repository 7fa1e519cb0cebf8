import type { GgufFile } from "../gguf/index.ts";
import { TokenizerError } from "./errors.ts";
import { Vocab } from "./vocab.ts";

export interface ChatMessage {
  role: string;
  content: string;
}

/** The part of @huggingface/jinja this module uses. */
interface JinjaModule {
  Template: new (source: string) => { render(context: Record<string, unknown>): string };
}

let jinja: Promise<JinjaModule> | undefined;
const vocabs = new WeakMap<GgufFile, Vocab>();

/** Special-token texts come from the vocabulary, parsed once per file. */
function vocabOf(f: GgufFile): Vocab {
  let v = vocabs.get(f);
  if (!v) vocabs.set(f, (v = new Vocab(f)));
  return v;
}

/** @huggingface/jinja is loaded on first use so everything else works without it installed. */
function loadJinja(): Promise<JinjaModule> {
  const name = "@huggingface/jinja";
  jinja ??= (import(name) as Promise<JinjaModule>).catch((e: unknown) => {
    jinja = undefined;
    throw new TokenizerError(`chat templates need the '${name}' package, which could not be loaded: ${(e as Error).message}`);
  });
  return jinja;
}

/**
 * Renders the model's tokenizer.chat_template (a Jinja template, as Hugging Face transformers renders it) for a
 * conversation. The BOS/EOS texts come from the vocabulary so templates that write {{ bos_token }} get the real one.
 */
export async function applyChatTemplate(
  f: GgufFile,
  messages: ChatMessage[],
  opts: { addGenerationPrompt?: boolean } = {},
): Promise<string> {
  const source = f.metadata.get("tokenizer.chat_template");
  if (typeof source !== "string") throw new TokenizerError(`${f.path}: the model has no chat template (tokenizer.chat_template)`);
  const vocab = vocabOf(f);
  const text = (id: number | undefined) => (id === undefined ? "" : vocab.texts[id]!);
  const { Template } = await loadJinja();
  let template;
  try {
    template = new Template(source);
  } catch (e) {
    throw new TokenizerError(`${f.path}: cannot parse chat template: ${(e as Error).message}`);
  }
  try {
    return template.render({
      messages,
      bos_token: text(vocab.bos),
      eos_token: text(vocab.eos),
      add_generation_prompt: opts.addGenerationPrompt ?? true,
    });
  } catch (e) {
    throw new TokenizerError(`${f.path}: chat template failed: ${(e as Error).message}`);
  }
}
