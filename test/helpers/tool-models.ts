import { GgufValueType } from "../../core/gguf/index.ts";
import path from "node:path";
import type { ToolFamilyName } from "../../core/chat/index.ts";
import { chatTemplate, IM_END, QWEN2_VOCAB, writeQwen25Chat } from "../core/chat/models.ts";
import { VOCAB_DIR } from "../core/tokenizer/fixtures.ts";
import { writeSyntheticModel, type SyntheticSpec } from "./synthetic-model.ts";

// Small enough to write in a second or two with a 150k-token vocabulary.
const SMALL = { nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 64, untiedOutput: true, contextLength: 2048 } as const;
const u32 = (value: number) => ({ type: GgufValueType.UINT32, value });
const vocab = (name: string) => path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);

function model(file: string, spec: Omit<SyntheticSpec, "nEmbd" | "nLayer" | "nHead" | "nHeadKv" | "nFf">, template: string, eos?: number): void {
  writeSyntheticModel(file, {
    ...SMALL, ...spec,
    extraMetadata: [["tokenizer.chat_template", chatTemplate(template)], ...(eos === undefined ? [] : [["tokenizer.ggml.eos_token_id", u32(eos)] as [string, ReturnType<typeof u32>]])],
  });
}

/** Mistral's v3 control tokens, in a Llama SentencePiece vocabulary where Mistral's tokenizer has them (ids 3-9). */
const MISTRAL_TOKENS = new Map(["[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]"].map((text, i) => [i + 3, { text, type: 3 }]));
const QWEN3_TOKENS = new Map([[151667, { text: "<think>", type: 4 }], [151668, { text: "</think>", type: 4 }]]);

/**
 * Small random models with a real vocabulary and a real chat template for each tool-call family: whatever
 * their random weights say, a tool-call grammar must make their output a valid call.
 */
export const TOOL_MODELS: { name: string; family: ToolFamilyName; write(file: string): void }[] = [
  { name: "qwen2.5", family: "hermes", write: (f) => writeQwen25Chat(f, SMALL) },
  {
    name: "qwen3", family: "hermes",
    write: (f) => model(f, { architecture: "qwen3", vocabFrom: QWEN2_VOCAB, renameTokens: QWEN3_TOKENS }, "Qwen-Qwen3-0.6B", IM_END),
  },
  { name: "hermes-2-pro", family: "hermes", write: (f) => model(f, { architecture: "llama", vocabFrom: vocab("llama-bpe") }, "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", 128009) },
  { name: "llama-3.1", family: "llama3", write: (f) => model(f, { architecture: "llama", vocabFrom: vocab("llama-bpe") }, "meta-llama-Llama-3.1-8B-Instruct", 128009) },
  { name: "llama-3.2", family: "llama3", write: (f) => model(f, { architecture: "llama", vocabFrom: vocab("llama-bpe") }, "meta-llama-Llama-3.2-3B-Instruct", 128009) },
  {
    name: "mistral-nemo", family: "mistral",
    write: (f) => model(f, { architecture: "llama", vocabFrom: vocab("llama-spm"), renameTokens: MISTRAL_TOKENS }, "mistralai-Mistral-Nemo-Instruct-2407"),
  },
  { name: "phi-3.5", family: "generic", write: (f) => model(f, { architecture: "llama", vocabFrom: vocab("phi-3") }, "microsoft-Phi-3.5-mini-instruct", 32007) },
];

/** Two tools, as a client describes them (a typical weather/time pair). */
export const TWO_TOOLS = [
  {
    type: "function" as const,
    function: {
      name: "get_weather", description: "The current weather in a city",
      parameters: { type: "object", properties: {
        city: { type: "string", description: "The city's name", maxLength: 20 },
        unit: { type: "string", description: "Temperature unit", enum: ["celsius", "fahrenheit"] },
      }, required: ["city", "unit"], additionalProperties: false },
    },
  },
  {
    type: "function" as const,
    function: {
      name: "get_time", description: "The local time in a time zone",
      parameters: { type: "object", properties: { zone: { type: "string", description: "An IANA time zone", maxLength: 30 } }, required: ["zone"], additionalProperties: false },
    },
  },
];
