import { readFileSync } from "node:fs";
import { GgufValueType } from "../../../core/gguf/index.ts";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeScriptedModel, writeSyntheticModel, type SyntheticSpec } from "../../helpers/synthetic-model.ts";
import { VOCAB_DIR } from "../tokenizer/fixtures.ts";

const TEMPLATES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../fixtures/chat-templates");

/** A real model's chat template from test/fixtures/chat-templates. */
export function chatTemplate(name: string): string {
  return readFileSync(path.join(TEMPLATES, `${name}.jinja`), "utf8");
}

export const QWEN2_VOCAB = path.join(VOCAB_DIR, "ggml-vocab-qwen2.gguf");

/** Qwen3's vocabulary is Qwen2's with these in its padding (user-defined tokens, written as text). */
export const THINK = 151667, END_THINK = 151668, IM_END = 151645;
const QWEN3_TOKENS = new Map([[THINK, { text: "<think>", type: 4 }], [END_THINK, { text: "</think>", type: 4 }]]);

const SMALL = { nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128 };

/** A small random Qwen2.5-shaped model with the qwen2 vocabulary and Qwen2.5-Instruct's chat template (an untied head: a tied one repeats the last token). */
export function writeQwen25Chat(file: string, extra: Partial<SyntheticSpec> = {}): void {
  writeSyntheticModel(file, {
    architecture: "qwen2", ...SMALL, vocabFrom: QWEN2_VOCAB, untiedOutput: true,
    extraMetadata: [["tokenizer.chat_template", chatTemplate("Qwen-Qwen2.5-7B-Instruct")], ["tokenizer.ggml.eos_token_id", { type: GgufValueType.UINT32, value: IM_END }]],
    ...extra,
  });
}

/**
 * A Qwen3-shaped model (Qwen3 vocabulary and chat template) scripted to think, then answer: after the generation
 * prompt's "\n" it writes `chain` (token ids), which should end with <|im_end|>.
 */
export function writeQwen3Thinker(file: string, chain: readonly number[]): void {
  writeScriptedModel(file, {
    architecture: "qwen3", ...SMALL, vocabFrom: QWEN2_VOCAB, renameTokens: QWEN3_TOKENS,
    extraMetadata: [["tokenizer.chat_template", chatTemplate("Qwen-Qwen3-0.6B")], ["tokenizer.ggml.eos_token_id", { type: GgufValueType.UINT32, value: IM_END }]],
  }, chain);
}
