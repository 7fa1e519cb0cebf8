import type { FastifyReply } from "fastify";
import type { ServerMetrics } from "../metrics.ts";
import type { ModelSet } from "../models.ts";

/** What the routes share: the models, the metrics, and the queue bound. */
export interface RouteContext {
  models: ModelSet;
  metrics: ServerMetrics;
  /** Most sequences that may wait for admission on one engine before requests get 503. */
  maxQueue: number;
  /** Draining: shutting down gracefully, taking no new requests (/health says 503). */
  lifecycle: { readonly draining: boolean };
}

/** A signal that aborts when the client goes away before the response is complete. */
export function abortOnDisconnect(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Seconds since the epoch, OpenAI's `created`. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
