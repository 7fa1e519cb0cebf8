import type { FastifyInstance } from "fastify";
import { chatTemplateOf } from "../chat-prompt.ts";
import { HttpError } from "../errors.ts";
import { configureBody, parseBody } from "../schemas.ts";
import { nowSeconds, type RouteContext } from "./context.ts";

const startedAt = nowSeconds();

/** GET /v1/models, GET /health, GET /metrics (when enabled) and POST /v1/infer-repl/configure. */
export function registerAdminRoutes(app: FastifyInstance, ctx: RouteContext, metricsEnabled: boolean): void {
  app.get("/v1/models", async () => ({
    object: "list",
    data: ctx.models.list.map((m) => {
      const engine = m.state === "ready" ? m.engine : undefined;
      return {
        id: m.id,
        object: "model",
        created: startedAt,
        owned_by: "infer-repl",
        status: m.state,
        // "model": the GGUF's own tokenizer.chat_template; "chatml": llama.cpp's fallback for a model without one.
        ...(engine && {
          chat_template: chatTemplateOf(engine),
          context_length: engine.contextSize,
          batching: engine.batching,
        }),
      };
    }),
  }));

  app.get("/health", async (_request, reply) => {
    const failed = ctx.models.list.find((m) => m.state === "failed");
    if (failed) return reply.code(500).send({ status: "error", error: `model ${failed.id} failed to load: ${failed.error!.message}` });
    if (ctx.models.loading) return reply.code(503).header("Retry-After", "1").send({ status: "loading" });
    if (ctx.lifecycle.draining) return reply.code(503).header("Connection", "close").send({ status: "draining" });
    return { status: "ok" };
  });

  if (metricsEnabled) {
    app.get("/metrics", async (_request, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.text()));
  }

  // Live batching changes, applied from the engine's next step (the REPL's settings, over HTTP).
  app.post("/v1/infer-repl/configure", async (request) => {
    const body = parseBody(configureBody, request.body);
    const served = ctx.models.get(body.model);
    const engine = served.engine;
    try {
      engine.configure({ maxSeqs: body.max_seqs, maxBatchTokens: body.max_batch_tokens, maxWaitMs: body.max_wait_ms, prefixCaching: body.prefix_caching });
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    return { model: served.id, batching: engine.batching };
  });
}
