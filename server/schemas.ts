import { z } from "zod";
import { MAX_TOP_LOGPROBS } from "../core/sampling/logprobs.ts";
import { badRequest } from "./errors.ts";
import { responseFormat } from "./response-format.ts";

// Request bodies of the OpenAI routes. Fields a client may send as null count as absent (the openai package and
// LangChain send some that way). Unknown fields are ignored, as OpenAI-compatible servers (llama-server) do;
// known fields this server cannot honour yet are refused by name in `unsupported` below.

const nullish = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

/** Sampling and stopping fields shared by /v1/completions and /v1/chat/completions. */
const samplingFields = {
  model: nullish(z.string()),
  max_tokens: nullish(z.number().int().min(1)),
  temperature: nullish(z.number().min(0).max(2)),
  top_p: nullish(z.number().gt(0).max(1)),
  n: nullish(z.number().int().min(1).max(16)),
  stop: nullish(z.union([z.string().min(1), z.array(z.string().min(1)).max(16)], { error: "expected a non-empty string or an array of at most 16 of them" })),
  seed: nullish(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)),
  presence_penalty: nullish(z.number().min(-2).max(2)),
  frequency_penalty: nullish(z.number().min(-2).max(2)),
  logit_bias: nullish(z.record(z.string().regex(/^\d+$/, "keys must be token ids"), z.number().min(-100).max(100))),
  stream: nullish(z.boolean()),
  stream_options: nullish(z.object({ include_usage: nullish(z.boolean()) })),
  response_format: nullish(responseFormat),
  user: nullish(z.string()),
  // llama-server's extensions, for clients that tune more than OpenAI's fields.
  top_k: nullish(z.number().int().min(0)),
  min_p: nullish(z.number().min(0).max(1)),
  repeat_penalty: nullish(z.number().gt(0)),
};

const tokenIds = z.array(z.number().int().min(0)).min(1);

export const completionBody = z.object({
  ...samplingFields,
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(64), tokenIds, z.array(tokenIds).min(1).max(64)], {
    error: "expected a string, an array of strings, an array of token ids or an array of such arrays (at most 64 prompts)",
  }),
  logprobs: nullish(z.number().int().min(0).max(5)),
  echo: nullish(z.boolean()),
  suffix: nullish(z.string()),
  best_of: nullish(z.number().int().min(1)),
});
export type CompletionBody = z.infer<typeof completionBody>;

const textPart = z.object({ type: z.literal("text"), text: z.string() });

/** A call an earlier assistant turn made, as OpenAI writes it (arguments: JSON text). */
const toolCall = z.object({
  id: z.string().min(1),
  type: z.literal("function").optional(),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const chatMessage = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(textPart)], { error: "expected a string or an array of text parts ({type: \"text\", text})" }).nullish(),
  name: nullish(z.string()),
  tool_calls: nullish(z.array(toolCall)),
  tool_call_id: nullish(z.string()),
});
export type ChatMessageBody = z.infer<typeof chatMessage>;

export const chatCompletionBody = z.object({
  ...samplingFields,
  messages: z.array(chatMessage).min(1),
  max_completion_tokens: nullish(z.number().int().min(1)),
  logprobs: nullish(z.boolean()),
  top_logprobs: nullish(z.number().int().min(0).max(MAX_TOP_LOGPROBS)),
  // Checked by the chat layer (checkTools), which names the wrong field.
  tools: z.unknown().optional(),
  tool_choice: z.unknown().optional(),
  parallel_tool_calls: nullish(z.boolean()),
  functions: z.unknown().optional(),
  function_call: z.unknown().optional(),
});
export type ChatCompletionBody = z.infer<typeof chatCompletionBody>;

/** POST /v1/infer-repl/configure: the engine's batching settings, each optional (see BatchingOptions). */
export const configureBody = z.strictObject({
  model: nullish(z.string()),
  max_seqs: z.number().int().min(1).max(4096).optional(),
  max_batch_tokens: z.number().int().min(1).max(1 << 16).optional(),
  max_wait_ms: z.number().int().min(0).max(60_000).optional(),
  prefix_caching: z.boolean().optional(),
});
export type ConfigureBody = z.infer<typeof configureBody>;

/** Parses a body or throws a 400 that names the first wrong field and what was expected. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("the request body must be a JSON object");
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join(".") || null;
  throw badRequest(field ? `${field}: ${issue.message}` : issue.message, field);
}
