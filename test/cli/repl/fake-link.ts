import type { EngineLink } from "../../../cli/repl/engine-client.ts";
import type { Event, Request } from "../../../cli/repl/protocol.ts";

/** An engine link that records requests and lets a test play engine events. */
export class FakeLink implements EngineLink {
  readonly sent: Request[] = [];
  private readonly listeners = new Set<(e: Event) => void>();

  send(request: Request): void {
    this.sent.push(request);
  }

  subscribe(listener: (e: Event) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: Event): void {
    for (const l of this.listeners) l(event);
  }

  async close(): Promise<void> {}

  last<T extends Request["type"]>(type: T): Extract<Request, { type: T }> | undefined {
    return this.sent.filter((r) => r.type === type).at(-1) as Extract<Request, { type: T }> | undefined;
  }
}
