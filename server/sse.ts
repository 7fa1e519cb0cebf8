import type { ServerResponse } from "node:http";

/**
 * Server-sent events as OpenAI streams them: `data: JSON` per chunk, `data: [DONE]` at the end.
 * Nothing goes out before the first `send()` (or `end()`): events `hold()`ed until then wait with the headers, so
 * a request still waiting for its first token has sent no byte, and a proxy in front (deploy/) can retry it on
 * another replica if this one dies meanwhile.
 */
export class SseWriter {
  private committed = false;
  private held: string[] = [];

  constructor(private readonly res: ServerResponse, private readonly headers: Record<string, string> = {}) {}

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** An event that goes out with the first `send()` (a role delta before any content). */
  hold(data: unknown): void {
    this.held.push(`data: ${JSON.stringify(data)}\n\n`);
  }

  send(data: unknown): void {
    if (!this.open) return;
    this.commit();
    this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    if (!this.open) return;
    this.commit();
    this.res.end("data: [DONE]\n\n");
  }

  private commit(): void {
    if (this.committed) return;
    this.committed = true;
    this.res.writeHead(200, {
      ...this.headers,
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no", // nginx in front (deploy/) must not buffer the stream
    });
    if (this.held.length > 0) this.res.write(this.held.join(""));
    this.held = [];
  }
}
