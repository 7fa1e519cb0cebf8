import type { ServerResponse } from "node:http";

/** Server-sent events as OpenAI streams them: `data: JSON` per chunk, `data: [DONE]` at the end. */
export class SseWriter {
  constructor(private readonly res: ServerResponse, headers: Record<string, string> = {}) {
    res.writeHead(200, {
      ...headers,
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no", // nginx in front (deploy/) must not buffer the stream
    });
    res.flushHeaders();
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  send(data: unknown): void {
    if (this.open) this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    if (!this.open) return;
    this.res.end("data: [DONE]\n\n");
  }
}
