import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { readGguf } from "../../../core/gguf/index.ts";
import { CHAT_ENCODE, ChatTemplate, type ChatMessage } from "../../../core/chat/index.ts";
import { loadTokenizer } from "../../../core/tokenizer/index.ts";
import { Vocab } from "../../../core/tokenizer/vocab.ts";
import { llamaCpp } from "../../helpers/llama-cpp.ts";
import { skipNoVocabs, VOCAB_DIR } from "../tokenizer/fixtures.ts";
import { chatTemplate } from "./models.ts";

// llama.cpp's template application, as its server does it (common/chat.cpp, common_chat_template_direct_apply and
// tokenize_input_prompts): its own Jinja engine renders the template (node-llama-cpp's AddonJinjaRenderer binds
// it) with bos_token/eos_token the tokens' pieces and enable_thinking true; a leading BOS text is dropped when the
// vocabulary adds BOS (a trailing EOS text when it adds EOS); the text is tokenized with special tokens parsed and
// BOS added as the vocabulary says. Ours must give the same token ids for a 3-turn conversation with a system
// prompt, with and without the generation prompt.

/** Template (test/fixtures/chat-templates, or the vocabulary's own) and the vocabulary fixture it runs on. */
const CASES: { template: string; vocab: string; system?: false }[] = [
  { template: "(own)", vocab: "phi-3" },
  { template: "(own)", vocab: "qwen2" },
  { template: "Qwen-Qwen2.5-7B-Instruct", vocab: "qwen2" },
  { template: "Qwen-Qwen3-0.6B", vocab: "qwen2" },
  { template: "Qwen-QwQ-32B", vocab: "qwen2" },
  { template: "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", vocab: "qwen2" },
  { template: "meta-llama-Llama-3.2-3B-Instruct", vocab: "llama-bpe" },
  { template: "meta-llama-Llama-3.1-8B-Instruct", vocab: "llama-bpe" },
  { template: "deepseek-ai-DeepSeek-R1-Distill-Llama-8B", vocab: "llama-bpe" },
  { template: "microsoft-Phi-3.5-mini-instruct", vocab: "phi-3" },
  { template: "mistralai-Mistral-Nemo-Instruct-2407", vocab: "llama-spm" },
  { template: "google-gemma-2-2b-it", vocab: "llama-spm", system: false },
  { template: "google-gemma-3-1b-it", vocab: "llama-spm" },
  { template: "microsoft-Phi-4-mini-instruct", vocab: "phi-3" },
  { template: "ibm-granite-granite-3.3-2B-Instruct", vocab: "starcoder" },
];

const SYSTEM: ChatMessage = { role: "system", content: "You are a concise assistant. Answer in one sentence." };
const TURNS: ChatMessage[] = [
  { role: "user", content: "Hello! Who are you?" },
  { role: "assistant", content: "I am a small model running locally.", reasoning: "The user greets me; introduce myself." },
  { role: "user", content: "What is 2 + 2?\nExplain briefly." },
  { role: "assistant", content: "2 + 2 = 4, because adding two and two gives four.", reasoning: "Simple arithmetic." },
  { role: "user", content: "Thanks — and in French? « quatre »" },
];
// Llama 3.x templates print today's date unless given one.
const VARIABLES = { date_string: "26 Jul 2024" };

for (const c of CASES) {
  test(`chat template token ids equal llama.cpp's: ${c.template} on ${c.vocab}`, { skip: skipNoVocabs }, async () => {
    const file = path.join(VOCAB_DIR, `ggml-vocab-${c.vocab}.gguf`);
    const gguf = readGguf(file);
    const source = c.template === "(own)" ? (gguf.metadata.get("tokenizer.chat_template") as string) : chatTemplate(c.template);
    const llama = await llamaCpp();
    const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
    try {
      const vocab = new Vocab(gguf);
      const piece = (id: number | undefined) => (id === undefined ? "" : model.detokenize([id as never], true));
      const renderer = new (llama as unknown as { _bindings: { AddonJinjaRenderer: new (s: string) => { render(x: object): string } } })._bindings.AddonJinjaRenderer(source);
      const ours = await ChatTemplate.load(gguf, source);
      const tokenizer = loadTokenizer(gguf);
      for (const withReasoning of [false, true]) {
        const messages = [...(c.system === false ? [] : [SYSTEM]), ...TURNS.map((m) => (withReasoning ? m : { role: m.role, content: m.content }))];
        for (const addGenerationPrompt of [true, false]) {
          let text = renderer.render({
            messages: messages.map((m) => (m.reasoning === undefined ? { role: m.role, content: m.content } : { role: m.role, content: m.content, reasoning_content: m.reasoning })),
            bos_token: piece(vocab.bos), eos_token: piece(vocab.eos), enable_thinking: true,
            ...(addGenerationPrompt ? { add_generation_prompt: true } : {}), ...VARIABLES,
          });
          if (vocab.addBos && piece(vocab.bos) && text.startsWith(piece(vocab.bos))) text = text.slice(piece(vocab.bos).length);
          if (vocab.addEos && piece(vocab.eos) && text.endsWith(piece(vocab.eos))) text = text.slice(0, -piece(vocab.eos).length);
          const expected = [...(vocab.addBos ? [vocab.bos!] : []), ...Array.from(model.tokenize(text, true), Number), ...(vocab.addEos ? [vocab.eos!] : [])];
          const rendered = ours.render(messages, { addGenerationPrompt, variables: VARIABLES, enableThinking: true });
          assert.equal(rendered, text, `text, reasoning ${withReasoning}, add_generation_prompt ${addGenerationPrompt}`);
          assert.deepEqual([...tokenizer.encode(rendered, CHAT_ENCODE)], expected, `tokens, reasoning ${withReasoning}, add_generation_prompt ${addGenerationPrompt}`);
        }
      }
    } finally {
      await model.dispose();
    }
  });
}
