import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { GenerationResult } from "../../core/generation.ts";
import type { ChatMessage } from "../../core/chat/index.ts";
import { renderChat } from "../chat-prompt.ts";
import { checkQueue, openaiFinishReason, runChoices } from "../choices.ts";
import { badRequest, generationError } from "../errors.ts";
import { chatLogprobs, usageOf } from "../format.ts";
import { generateOptions } from "../request-options.ts";
import { withResponseFormat } from "../response-format.ts";
import { chatCompletionBody, parseBody, type ChatCompletionBody } from "../schemas.ts";
import { SseWriter } from "../sse.ts";
import { abortOnDisconnect, nowSeconds, type RouteContext } from "./context.ts";

/** POST /v1/chat/completions: the conversation rendered with the model's chat template (ChatML without one). */
export function registerChatCompletions(app: FastifyInstance, ctx: RouteContext): void {
  app.post("/v1/chat/completions", async (request, reply) => {
    const body = parseBody(chatCompletionBody, request.body);
    refuseUnsupported(body);
    const n = body.n ?? 1;
    if (body.top_logprobs !== undefined && !body.logprobs) throw badRequest("top_logprobs needs logprobs: true", "top_logprobs");
    const logprobs = body.logprobs ? (body.top_logprobs ?? 0) : undefined;
    const served = ctx.models.get(body.model);
    const engine = served.engine;
    const options = withResponseFormat(generateOptions(served, engine, body, body.max_completion_tokens ?? body.max_tokens, logprobs), engine, body.response_format);
    const chat = await renderChat(engine, chatMessages(body, served.spec.system));
    checkQueue(engine, n, ctx.maxQueue);
    const signal = abortOnDisconnect(reply);
    const tokenizer = engine.model.tokenizer;
    const base = { id: `chatcmpl-${randomUUID()}`, created: nowSeconds(), model: served.id };
    const generation = { model: served.id, engine, prompt: chat.prompt, options: { ...options, ...chat.options }, n, signal, metrics: ctx.metrics };

    if (!body.stream) {
      const results = await runChoices(generation);
      const choices = results.map((r, index) => ({
        index,
        message: { role: "assistant", content: r.text },
        logprobs: logprobs !== undefined && r.logprobs ? chatLogprobs(tokenizer, r.tokens, r.logprobs) : null,
        finish_reason: openaiFinishReason(r.finishReason),
      }));
      return { ...base, object: "chat.completion", choices, usage: usageOf([results]) };
    }
    reply.hijack();
    const sse = new SseWriter(reply.raw);
    const chunkOf = (index: number, delta: Record<string, string>, extra: { logprobs?: unknown; finish_reason?: string | null } = {}) =>
      ({ ...base, object: "chat.completion.chunk", choices: [{ index, delta, logprobs: extra.logprobs ?? null, finish_reason: extra.finish_reason ?? null }] });
    const chunk = (...args: Parameters<typeof chunkOf>) => sse.send(chunkOf(...args));
    for (let i = 0; i < n; i++) sse.hold(chunkOf(i, { role: "assistant", content: "" }));
    try {
      const results: GenerationResult[] = await runChoices({
        ...generation,
        onEvent: (i, e) => {
          const lp = e.logprob ? chatLogprobs(tokenizer, [e.token], [e.logprob]) : undefined;
          if (e.text !== "" || lp) chunk(i, { content: e.text }, { logprobs: lp });
        },
        onEnd: (i, r) => {
          if (r.finishReason !== "abort") chunk(i, {}, { finish_reason: openaiFinishReason(r.finishReason) });
        },
      });
      if (body.stream_options?.include_usage) sse.send({ ...base, object: "chat.completion.chunk", choices: [], usage: usageOf([results]) });
    } catch (e) {
      sse.send(generationError(e).body);
    }
    sse.end();
    return reply;
  });
}

/** Tool calls plug in with constrained decoding (issue 18); until then they are refused by name. */
function refuseUnsupported(body: ChatCompletionBody): void {
  const notYet = (field: string) => badRequest(`${field} is not supported yet (tool calls come with constrained decoding; response_format is supported)`, field);
  if (body.tools !== undefined && !(Array.isArray(body.tools) && body.tools.length === 0)) throw notYet("tools");
  if (body.functions !== undefined) throw notYet("functions");
  if (body.tool_choice !== undefined && body.tool_choice !== "none") throw notYet("tool_choice");
  if (body.function_call !== undefined) throw notYet("function_call");
  body.messages.forEach((m, i) => {
    if (m.role === "tool") throw notYet(`messages.${i}.role`);
    if (m.tool_calls !== undefined) throw notYet(`messages.${i}.tool_calls`);
  });
}

/** The conversation as the template takes it: text parts joined, "developer" as "system", the recipe's system first. */
function chatMessages(body: ChatCompletionBody, system: string | undefined): ChatMessage[] {
  const messages = body.messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: typeof m.content === "string" ? m.content : (m.content ?? []).map((p) => p.text).join(""),
  }));
  if (system !== undefined && messages[0]?.role !== "system") messages.unshift({ role: "system", content: system });
  return messages;
}
