import { hostname } from "node:os";
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import { ApiKeys } from "./auth.ts";
import { HttpError } from "./errors.ts";
import { ServerMetrics } from "./metrics.ts";
import { ModelSet, type ModelSpec } from "./models.ts";
import { registerAdminRoutes } from "./routes/admin.ts";
import { registerChatCompletions } from "./routes/chat-completions.ts";
import { registerCompletions } from "./routes/completions.ts";

export interface ServerOptions {
  models: readonly ModelSpec[];
  /** Bearer keys; with none, every request is let in (as llama-server without --api-key). */
  apiKeys?: readonly string[];
  /** Serve GET /metrics (llama-server's --metrics). */
  metrics?: boolean;
  /** /health and /metrics answer without a key. */
  metricsPublic?: boolean;
  /** Most sequences waiting for admission on an engine before requests get 503 (default 256). */
  maxQueue?: number;
  /** Request bodies up to this many bytes (default 4 MiB). */
  bodyLimit?: number;
  /** close() also closes the engines (default true; false when they belong to someone else, as the REPL's do). */
  closeEngines?: boolean;
  /** This server's name among replicas behind a load balancer, sent as `x-infer-repl-replica` (default HOSTNAME:PORT). */
  replicaId?: string;
}

/** Generation requests in flight and finished (answered, refused or disconnected) since the server started. */
export interface ServerActivity {
  active: number;
  served: number;
}

export interface InferServer {
  readonly app: FastifyInstance;
  readonly models: ModelSet;
  readonly metrics: ServerMetrics;
  activity(): ServerActivity;
  /** Listens on host:port; resolves with the address (port 0 picks a free port). */
  listen(port: number, host?: string): Promise<{ host: string; port: number; url: string }>;
  /** The `x-infer-repl-replica` every response carries. */
  readonly replicaId: string;
  /**
   * Graceful shutdown: stops listening, answers /health and new generation requests 503 (a load balancer sends them
   * elsewhere), lets running requests finish for up to `timeoutMs`, then close(). Resolves whether they all finished.
   */
  drain(timeoutMs: number): Promise<boolean>;
  /** Stops listening, ends running generations and closes the engines (once; later calls wait for the same). */
  close(): Promise<void>;
}

const PUBLIC_WITH_METRICS_PUBLIC = new Set(["/health", "/metrics"]);
const GENERATION_ROUTES = new Set(["/v1/completions", "/v1/chat/completions"]);

/**
 * The OpenAI-compatible server over one Engine per model (each request's choices are streams on it; continuous
 * batching does the rest). It starts answering at once: /health says 503 until every model has loaded.
 * No CORS headers are sent (browsers on other origins are refused by default).
 */
export function createServer(options: ServerOptions): InferServer {
  const models = new ModelSet(options.models);
  const metrics = new ServerMetrics();
  const keys = new ApiKeys(options.apiKeys ?? []);
  for (const m of models.list) void m.ready.then((engine) => metrics.watch(m.id, engine), () => {});
  // forceCloseConnections: close() drops open streams too; their requests see a disconnect and abort.
  const app = Fastify({ bodyLimit: options.bodyLimit ?? 4 << 20, logger: false, forceCloseConnections: true });

  const activity: ServerActivity = { active: 0, served: 0 };
  const lifecycle = { draining: false };
  let replicaId = options.replicaId ?? hostname();
  let idle: (() => void) | undefined; // drain() waiting for the last running request
  let closing: Promise<void> | undefined; // close() once, whoever calls it (a drain, a second signal)
  // Every body is read as JSON whatever its content type says (curl's default form type included), as
  // llama-server does; one that is not JSON is the client's 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_request, body, done) => {
    try {
      done(null, body === "" ? undefined : JSON.parse(body as string));
    } catch (e) {
      done(new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`));
    }
  });
  app.addHook("onRequest", async (request, reply) => {
    const path = request.url.split("?")[0]!;
    reply.raw.setHeader("x-infer-repl-replica", replicaId); // raw, so hijacked streams carry it too
    if (GENERATION_ROUTES.has(path)) {
      if (lifecycle.draining) {
        throw new HttpError(503, `replica ${replicaId} is draining (shutting down): retry on another`, null, "server_error", { "Retry-After": "1", Connection: "close" });
      }
      activity.active++;
      // "close" comes for every response, hijacked streams and dropped connections included.
      reply.raw.once("close", () => {
        activity.active--;
        activity.served++;
        if (activity.active === 0) idle?.();
      });
    }
    if (options.metricsPublic && PUBLIC_WITH_METRICS_PUBLIC.has(path)) return;
    if (!keys.allows(request.headers.authorization)) {
      throw new HttpError(401, "a valid API key is required: Authorization: Bearer KEY", null, "authentication_error", { "WWW-Authenticate": "Bearer" });
    }
  });
  app.setErrorHandler((error: FastifyError | HttpError, _request, reply) => {
    const e = error instanceof HttpError ? error : fromFramework(error);
    return reply.code(e.status).headers(e.headers).send(e.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new HttpError(404, `no route ${request.method} ${request.url.split("?")[0]}`);
    return reply.code(404).send(e.body);
  });

  const ctx = { models, metrics, maxQueue: options.maxQueue ?? 256, lifecycle };
  registerCompletions(app, ctx);
  registerChatCompletions(app, ctx);
  registerAdminRoutes(app, ctx, options.metrics ?? false);

  const server: InferServer = {
    app,
    models,
    metrics,
    get replicaId() {
      return replicaId;
    },
    activity: () => ({ ...activity }),
    async listen(port, host = "127.0.0.1") {
      await app.listen({ port, host });
      const address = app.server.address();
      const bound = typeof address === "object" && address ? address.port : port;
      const shown = host.includes(":") ? `[${host}]` : host;
      replicaId = options.replicaId ?? `${hostname()}:${bound}`;
      return { host, port: bound, url: `http://${shown}:${bound}` };
    },
    async drain(timeoutMs) {
      lifecycle.draining = true;
      app.server.close(); // no new connections; idle keep-alive ones are closed now, busy ones after their response
      app.server.closeIdleConnections();
      const finished = await new Promise<boolean>((resolve) => {
        if (activity.active === 0) return resolve(true);
        const timer = setTimeout(() => resolve(false), timeoutMs);
        idle = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      await server.close();
      return finished;
    },
    close() {
      closing ??= (async () => {
        metrics.close();
        if (options.closeEngines ?? true) for (const m of models.list) if (m.state === "ready") m.engine.close();
        await app.close();
      })();
      return closing;
    },
  };
  return server;
}

/** Fastify's own errors (bad JSON, body too large, wrong content type) keep their status, in OpenAI's error shape. */
function fromFramework(error: FastifyError): HttpError {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  return new HttpError(status, error.message);
}
