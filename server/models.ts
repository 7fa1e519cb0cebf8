import type { Engine } from "../core/engine.ts";
import type { GenerateOptions } from "../core/generation.ts";
import { HttpError } from "./errors.ts";

/** What the server serves under one model id. */
export interface ModelSpec {
  id: string;
  /** Loads the engine (the server answers 503 for this model until it resolves). */
  load: () => Promise<Engine>;
  /** Request defaults (a recipe's sampling, stop strings, maxTokens, speculation); a request's fields override them. */
  defaults?: GenerateOptions;
  /** A system message put first when a chat request has none (a recipe's chat.system). */
  system?: string;
}

export type ModelState = "loading" | "ready" | "failed";

/** One served model: its engine once loaded, and its load state for /health and /v1/models. */
export class ServedModel {
  state: ModelState = "loading";
  error: Error | undefined;
  readonly ready: Promise<Engine>;
  private loaded: Engine | undefined;

  constructor(readonly spec: ModelSpec) {
    this.ready = spec.load().then(
      (engine) => {
        this.loaded = engine;
        this.state = "ready";
        return engine;
      },
      (e: unknown) => {
        this.state = "failed";
        this.error = e instanceof Error ? e : new Error(String(e));
        throw this.error;
      },
    );
    this.ready.catch(() => {}); // reported through `state`, /health and whoever awaits `ready`
  }

  get id(): string {
    return this.spec.id;
  }

  /** The engine, or 503 while it loads (500 if loading failed). */
  get engine(): Engine {
    if (this.loaded) return this.loaded;
    if (this.state === "failed") throw new HttpError(500, `model ${this.id} failed to load: ${this.error!.message}`);
    throw new HttpError(503, `model ${this.id} is loading`, null, "server_error", { "Retry-After": "1" });
  }
}

/** The served models by id; a request without `model` gets the first. */
export class ModelSet {
  readonly list: ServedModel[];

  constructor(specs: readonly ModelSpec[]) {
    if (specs.length === 0) throw new RangeError("the server needs at least one model");
    const ids = new Set<string>();
    for (const s of specs) {
      if (ids.has(s.id)) throw new RangeError(`two models have the id "${s.id}"`);
      ids.add(s.id);
    }
    this.list = specs.map((s) => new ServedModel(s));
  }

  get(id: string | undefined): ServedModel {
    if (id === undefined) return this.list[0]!;
    const m = this.list.find((x) => x.id === id);
    if (!m) throw new HttpError(404, `no model "${id}" (served: ${this.list.map((x) => x.id).join(", ")})`, "model", "invalid_request_error");
    return m;
  }

  get loading(): boolean {
    return this.list.some((m) => m.state === "loading");
  }

  /** Resolves once every engine is loaded; rejects with the first failure. */
  async ready(): Promise<Engine[]> {
    return Promise.all(this.list.map((m) => m.ready));
  }
}
