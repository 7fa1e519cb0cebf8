import type { Engine } from "../core/engine.ts";
import type { GenerateOptions } from "../core/generation.ts";
import { badRequest } from "./errors.ts";
import type { ServedModel } from "./models.ts";
import type { ChatCompletionBody, CompletionBody } from "./schemas.ts";

type SamplingBody = Pick<CompletionBody & ChatCompletionBody,
  "temperature" | "top_p" | "top_k" | "min_p" | "repeat_penalty" | "presence_penalty" | "frequency_penalty" | "seed" | "logit_bias" | "stop">;

/**
 * A request's generation options: the model's defaults (a recipe's settings), overridden by the request's
 * OpenAI fields. Without max_tokens a choice may run to the end of the context, as llama-server's do.
 * `logprobs` (alternatives per token) turns speculative decoding off for the request: the recorded distribution is
 * the target's row, which verification does not expose.
 */
export function generateOptions(model: ServedModel, engine: Engine, body: SamplingBody, maxTokens: number | undefined, logprobs: number | undefined): GenerateOptions {
  const o: GenerateOptions = { ...model.spec.defaults };
  const set = <K extends keyof GenerateOptions>(key: K, value: GenerateOptions[K] | undefined) => {
    if (value !== undefined) o[key] = value;
  };
  set("temperature", body.temperature);
  set("topP", body.top_p);
  set("topK", body.top_k);
  set("minP", body.min_p);
  set("repeatPenalty", body.repeat_penalty);
  set("presencePenalty", body.presence_penalty);
  set("frequencyPenalty", body.frequency_penalty);
  set("seed", body.seed);
  set("stop", typeof body.stop === "string" ? [body.stop] : body.stop);
  set("maxTokens", maxTokens ?? model.spec.defaults?.maxTokens ?? engine.contextSize);
  if (body.logit_bias) o.logitBias = logitBias(body.logit_bias, engine.model.hparams.nVocab);
  if (logprobs !== undefined) {
    o.logprobs = logprobs;
    delete o.speculative;
  }
  return o;
}

function logitBias(bias: Record<string, number>, vocab: number): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [key, value] of Object.entries(bias)) {
    const id = Number(key);
    if (id >= vocab) throw badRequest(`logit_bias: token id ${key} is out of range (the vocabulary has ${vocab} tokens)`, "logit_bias");
    out[id] = value;
  }
  return out;
}
