import type { Engine } from "../core/engine.ts";
import type { FinishReason } from "../core/scheduler/sequence.ts";
import type { GenerateOptions, GenerationResult, TokenEvent } from "../core/generation.ts";
import { generationError, HttpError } from "./errors.ts";
import type { ServerMetrics } from "./metrics.ts";

export interface ChoicesRequest {
  /** The model's id (the metrics' label). */
  model: string;
  engine: Engine;
  prompt: string | readonly number[];
  options: GenerateOptions;
  /** Choices of this prompt; choice i samples with seed + i when the request gave a seed. */
  n: number;
  /** Aborted when the client goes away: every choice stops and frees its blocks at once. */
  signal: AbortSignal;
  metrics: ServerMetrics;
  /** Each token event of choice `choice` as it arrives (streaming responses). */
  onEvent?: (choice: number, event: TokenEvent) => void;
  /** A choice ended normally (not on failure). */
  onEnd?: (choice: number, result: GenerationResult) => void;
}

/**
 * Refuses a request when the engine's queue cannot take its choices: 503 with Retry-After, so clients back off
 * instead of piling up behind sequences that have not started.
 */
export function checkQueue(engine: Engine, choices: number, maxQueue: number): void {
  const waiting = engine.stats().waiting;
  if (waiting + choices > maxQueue) {
    throw new HttpError(503, `the server is busy: ${waiting} sequences are waiting (at most ${maxQueue})`, null, "server_error", { "Retry-After": "1" });
  }
}

/**
 * Runs a prompt's n choices as n streams on the engine (continuous batching runs them together with every other
 * request). Resolves with their results in choice order; a failure of one aborts the others and rejects with an
 * HttpError. An aborted request resolves with results whose finish reason is "abort".
 */
export async function runChoices(req: ChoicesRequest): Promise<GenerationResult[]> {
  const failed = new AbortController();
  const signal = AbortSignal.any([req.signal, failed.signal]);
  const one = async (i: number): Promise<GenerationResult> => {
    const seed = req.options.seed === undefined ? undefined : req.options.seed + i;
    const submitted = performance.now();
    let last = 0;
    try {
      const stream = req.engine.stream(req.prompt, { ...req.options, seed, signal });
      for await (const e of stream) {
        if (e.token >= 0) {
          const now = performance.now();
          if (last === 0) req.metrics.firstToken(req.model, (now - submitted) / 1000);
          else req.metrics.nextToken(req.model, (now - last) / 1000);
          last = now;
        }
        req.onEvent?.(i, e);
      }
      const result = await stream.result;
      req.metrics.choiceEnded(req.model, result.finishReason === "abort" ? "aborted" : "finished", result, i === 0);
      req.onEnd?.(i, result);
      return result;
    } catch (e) {
      req.metrics.choiceEnded(req.model, "error");
      failed.abort();
      throw generationError(e);
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: req.n }, (_, i) => one(i)));
  const rejected = settled.find((s) => s.status === "rejected");
  if (rejected) throw rejected.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<GenerationResult>).value);
}

/** OpenAI's finish reasons: the end of generation or a stop string is "stop", running out of tokens "length". */
export function openaiFinishReason(reason: FinishReason): "stop" | "length" {
  return reason === "length" || reason === "context" ? "length" : "stop";
}
