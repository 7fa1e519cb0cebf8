import { Worker } from "node:worker_threads";
import { entryUrl, fromSources } from "../../core/package.ts";
import { decode, encode, type Event, type Request } from "./protocol.ts";

/** What the UI needs from the engine: send requests, hear events. The worker is one implementation, tests use fakes. */
export interface EngineLink {
  send(request: Request): void;
  /** Registers a listener; returns the function that removes it. */
  subscribe(listener: (event: Event) => void): () => void;
  close(): Promise<void>;
}

/**
 * The worker's entry: built, the bundle of engine-worker.ts; from the TypeScript sources, engine-worker.mjs, which
 * registers tsx in the worker first (a worker thread does not inherit the main thread's loader).
 */
const WORKER_URL = entryUrl(fromSources ? "cli/repl/engine-worker.mjs" : "cli/repl/engine-worker.ts");

/** The engine in a worker thread, spoken to in MessagePack. */
export class WorkerEngineLink implements EngineLink {
  private readonly worker: Worker;
  private readonly listeners = new Set<(event: Event) => void>();

  constructor() {
    this.worker = new Worker(new URL(WORKER_URL));
    this.worker.on("message", (bytes: Uint8Array) => {
      const event = decode<Event>(bytes);
      for (const l of this.listeners) l(event);
    });
    this.worker.on("error", (e) => {
      for (const l of this.listeners) l({ type: "notice", text: `the engine worker failed: ${e.message}` });
    });
  }

  send(request: Request): void {
    const bytes = encode(request);
    this.worker.postMessage(bytes, [bytes.buffer]);
  }

  subscribe(listener: (event: Event) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
