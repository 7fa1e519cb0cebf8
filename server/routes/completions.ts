import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { GenerationResult } from "../../core/generation.ts";
import { checkQueue, openaiFinishReason, runChoices } from "../choices.ts";
import { badRequest, generationError } from "../errors.ts";
import { completionLogprobs, usageOf } from "../format.ts";
import { generateOptions } from "../request-options.ts";
import { withResponseFormat } from "../response-format.ts";
import { completionBody, parseBody, type CompletionBody } from "../schemas.ts";
import { SseWriter } from "../sse.ts";
import { abortOnDisconnect, nowSeconds, type RouteContext } from "./context.ts";

/** POST /v1/completions: text completion of one or more prompts (strings or token ids), n choices each. */
export function registerCompletions(app: FastifyInstance, ctx: RouteContext): void {
  app.post("/v1/completions", async (request, reply) => {
    const body = parseBody(completionBody, request.body);
    if (body.echo) throw badRequest("echo is not supported", "echo");
    if (body.suffix !== undefined) throw badRequest("suffix (insertion) is not supported", "suffix");
    const n = body.n ?? 1;
    if (body.best_of !== undefined && body.best_of !== n) throw badRequest("best_of must equal n (choices are not ranked)", "best_of");
    const served = ctx.models.get(body.model);
    const engine = served.engine;
    const prompts = promptList(body.prompt, engine.model.hparams.nVocab);
    const options = withResponseFormat(generateOptions(served, engine, body, body.max_tokens, body.logprobs), engine, body.response_format);
    checkQueue(engine, prompts.length * n, ctx.maxQueue);
    const signal = abortOnDisconnect(reply);
    const base = { id: `cmpl-${randomUUID()}`, object: "text_completion" as const, created: nowSeconds(), model: served.id };
    const tokenizer = engine.model.tokenizer;
    const run = (prompt: string | number[], p: number, stream?: SseWriter) => {
      const offsets = new Array<number>(n).fill(0);
      return runChoices({
        model: served.id, engine, prompt, options, n, signal, metrics: ctx.metrics,
        onEvent: stream && ((i, e) => {
          const logprobs = e.logprob ? completionLogprobs(tokenizer, [e.token], [e.logprob], offsets[i]!) : null;
          offsets[i]! += e.text.length;
          if (e.text !== "" || logprobs) stream.send({ ...base, choices: [{ index: p * n + i, text: e.text, logprobs, finish_reason: null }] });
        }),
        onEnd: stream && ((i, r) => {
          if (r.finishReason !== "abort") stream.send({ ...base, choices: [{ index: p * n + i, text: "", logprobs: null, finish_reason: openaiFinishReason(r.finishReason) }] });
        }),
      });
    };

    if (!body.stream) {
      const results = await Promise.all(prompts.map((prompt, p) => run(prompt, p)));
      const choices = results.flatMap((rs, p) => rs.map((r, i) => choiceOf(r, p * n + i, body, tokenizer)));
      return { ...base, choices, usage: usageOf(results) };
    }
    reply.hijack();
    const sse = new SseWriter(reply.raw);
    try {
      const results = await Promise.all(prompts.map((prompt, p) => run(prompt, p, sse)));
      if (body.stream_options?.include_usage) sse.send({ ...base, choices: [], usage: usageOf(results) });
    } catch (e) {
      sse.send(generationError(e).body);
    }
    sse.end();
    return reply;
  });
}

function choiceOf(r: GenerationResult, index: number, body: CompletionBody, tokenizer: Parameters<typeof completionLogprobs>[0]) {
  const logprobs = body.logprobs !== undefined && r.logprobs ? completionLogprobs(tokenizer, r.tokens, r.logprobs, 0) : null;
  return { index, text: r.text, logprobs, finish_reason: openaiFinishReason(r.finishReason) };
}

/** The prompts of a request: one string, several, one token-id list or several; token ids must be in the vocabulary. */
function promptList(prompt: CompletionBody["prompt"], vocab: number): (string | number[])[] {
  if (typeof prompt === "string") return [prompt];
  if (prompt.length > 0 && typeof prompt[0] === "number") return [checkIds(prompt as number[], vocab, "prompt")];
  return (prompt as (string | number[])[]).map((p, i) => (typeof p === "string" ? p : checkIds(p, vocab, `prompt.${i}`)));
}

function checkIds(ids: number[], vocab: number, field: string): number[] {
  const bad = ids.find((id) => id >= vocab);
  if (bad !== undefined) throw badRequest(`${field}: token id ${bad} is out of range (the vocabulary has ${vocab} tokens)`, field);
  return ids;
}
