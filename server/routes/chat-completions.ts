import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { GenerationResult } from "../../core/generation.ts";
import { ChatError, prepareChat, ToolError, type ChatAnswer, type ChatDelta, type ChatMessage, type PreparedChat } from "../../core/chat/index.ts";
import type { Engine } from "../../core/engine.ts";
import type { GenerateOptions } from "../../core/generation.ts";
import { serverTemplate } from "../chat-prompt.ts";
import { checkQueue, runChoices } from "../choices.ts";
import { badRequest, generationError } from "../errors.ts";
import { chatLogprobs, usageOf } from "../format.ts";
import { generateOptions } from "../request-options.ts";
import { withResponseFormat } from "../response-format.ts";
import { chatCompletionBody, parseBody, type ChatCompletionBody } from "../schemas.ts";
import { SseWriter } from "../sse.ts";
import { abortOnDisconnect, nowSeconds, type RouteContext } from "./context.ts";

/**
 * POST /v1/chat/completions: the conversation rendered with the model's chat template (ChatML without one), with
 * tool calling (`tools`, `tool_choice`, `parallel_tool_calls`; earlier calls and "tool" results in the history):
 * calls come back as `tool_calls` with finish_reason "tool_calls", streamed as OpenAI's tool-call deltas.
 */
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
    const chat = await prepare(engine, chatMessages(body, served.spec.system), body, options);
    checkQueue(engine, n, ctx.maxQueue);
    const signal = abortOnDisconnect(reply);
    const tokenizer = engine.model.tokenizer;
    const base = { id: `chatcmpl-${randomUUID()}`, created: nowSeconds(), model: served.id };
    const readers = Array.from({ length: n }, () => chat.reader());
    const generation = { model: served.id, engine, prompt: chat.prompt, options: chat.options, n, signal, metrics: ctx.metrics };

    if (!body.stream) {
      const results = await runChoices({ ...generation, onEvent: (i, e) => readers[i]!.push(e.text), onEnd: (i) => readers[i]!.finish() });
      const choices = results.map((r, index) => ({
        index,
        message: assistantMessage(readers[index]!.message),
        logprobs: logprobs !== undefined && r.logprobs ? chatLogprobs(tokenizer, r.tokens, r.logprobs) : null,
        finish_reason: readers[index]!.finishReason(r.finishReason),
      }));
      return { ...base, object: "chat.completion", choices, usage: usageOf([results]) };
    }
    reply.hijack();
    const sse = new SseWriter(reply.raw);
    const chunkOf = (index: number, delta: Record<string, unknown>, extra: { logprobs?: unknown; finish_reason?: string | null } = {}) =>
      ({ ...base, object: "chat.completion.chunk", choices: [{ index, delta, logprobs: extra.logprobs ?? null, finish_reason: extra.finish_reason ?? null }] });
    const chunk = (...args: Parameters<typeof chunkOf>) => sse.send(chunkOf(...args));
    for (let i = 0; i < n; i++) sse.hold(chunkOf(i, { role: "assistant", content: "" }));
    try {
      const results: GenerationResult[] = await runChoices({
        ...generation,
        onEvent: (i, e) => {
          const lp = e.logprob ? chatLogprobs(tokenizer, [e.token], [e.logprob]) : undefined;
          const delta = deltaBody(readers[i]!.push(e.text));
          if (delta || lp) chunk(i, delta ?? { content: "" }, { logprobs: lp });
        },
        onEnd: (i, r) => {
          const delta = deltaBody(readers[i]!.finish());
          if (delta) chunk(i, delta);
          if (r.finishReason !== "abort") chunk(i, {}, { finish_reason: readers[i]!.finishReason(r.finishReason) });
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

/** The prompt and its options; a bad tool or tool choice, or a history the template refuses, is a 400 naming it. */
async function prepare(engine: Engine, messages: ChatMessage[], body: ChatCompletionBody, options: GenerateOptions): Promise<PreparedChat> {
  try {
    return await prepareChat(engine, messages, {
      ...options,
      template: await serverTemplate(engine),
      ...(body.tools !== undefined && { tools: body.tools as never }),
      ...(body.tool_choice !== undefined && { toolChoice: body.tool_choice as never }),
      ...(body.parallel_tool_calls !== undefined && { parallelToolCalls: body.parallel_tool_calls }),
    });
  } catch (e) {
    if (e instanceof ToolError) throw badRequest(e.message, e.field);
    if (e instanceof ChatError) throw badRequest(e.message, "messages");
    throw e;
  }
}

/** The assistant's message as OpenAI writes it: content null when it only called tools. */
function assistantMessage(m: ChatAnswer): Record<string, unknown> {
  const calls = m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
  return {
    role: "assistant",
    content: calls.length > 0 && m.content === "" ? null : m.content,
    ...(m.reasoning !== "" && { reasoning_content: m.reasoning }),
    ...(calls.length > 0 && { tool_calls: calls }),
  };
}

/** A streamed piece as OpenAI's delta: content, reasoning_content, tool_calls (the first of a call with id and name). */
function deltaBody(d: ChatDelta): Record<string, unknown> | undefined {
  const delta: Record<string, unknown> = {};
  if (d.content !== "") delta["content"] = d.content;
  if (d.reasoning !== "") delta["reasoning_content"] = d.reasoning;
  if (d.toolCalls.length > 0) {
    delta["tool_calls"] = d.toolCalls.map((c) => ({
      index: c.index,
      ...(c.id !== undefined && { id: c.id, type: "function" }),
      function: { ...(c.name !== undefined && { name: c.name }), arguments: c.arguments },
    }));
  }
  return Object.keys(delta).length > 0 ? delta : undefined;
}

/** The legacy functions API is refused by name (tools replace it). */
function refuseUnsupported(body: ChatCompletionBody): void {
  const legacy = (field: string) => badRequest(`${field} is not supported (the legacy functions API): use tools and tool_choice`, field);
  if (body.functions !== undefined) throw legacy("functions");
  if (body.function_call !== undefined) throw legacy("function_call");
}

/**
 * The conversation as the chat layer takes it: text parts joined, "developer" as "system", earlier tool calls and
 * tool results kept, the recipe's system prompt first.
 */
function chatMessages(body: ChatCompletionBody, system: string | undefined): ChatMessage[] {
  const messages = body.messages.map((m): ChatMessage => ({
    role: m.role === "developer" ? "system" : m.role,
    content: typeof m.content === "string" ? m.content : (m.content ?? []).map((p) => p.text).join(""),
    ...(m.tool_calls?.length && { toolCalls: m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) }),
    ...(m.tool_call_id !== undefined && { toolCallId: m.tool_call_id }),
    ...(m.name !== undefined && { name: m.name }),
  }));
  if (system !== undefined && messages[0]?.role !== "system") messages.unshift({ role: "system", content: system });
  return messages;
}
