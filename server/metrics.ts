import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Engine, EngineStats } from "../core/engine.ts";
import type { GenerationResult } from "../core/generation.ts";

/** Latency buckets in seconds, from a fraction of a decode step to a long queue wait. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The server's Prometheus metrics (text format 0.0.4, one registry per server). Engine figures (queues, KV
 * blocks, prefix cache, preemptions, steps) are read from engine.stats() at scrape time; latencies are observed
 * per request; step timings come from the engine's step observer. Every series has a `model` label.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly engines = new Map<string, Engine>();
  private readonly unwatch: (() => void)[] = [];
  private readonly ttft: Histogram<"model">;
  private readonly interToken: Histogram<"model">;
  private readonly stepSeconds: Histogram<"model">;
  private readonly requests: Counter<"model" | "outcome">;
  private readonly promptTokens: Counter<"model">;
  private readonly completionTokens: Counter<"model">;
  private readonly specDrafted: Counter<"model">;
  private readonly specAccepted: Counter<"model">;
  private readonly spec = new Map<string, { drafted: number; accepted: number }>();

  constructor() {
    const registers = [this.registry];
    const stats = (): [string, EngineStats][] => [...this.engines].map(([id, e]) => [id, e.stats()]);
    const gauge = (name: string, help: string, read: (s: EngineStats) => number) =>
      new Gauge({
        name, help, labelNames: ["model"], registers,
        collect() {
          for (const [model, s] of stats()) this.set({ model }, read(s));
        },
      });
    /** A counter that follows one of the engine's own running totals. */
    const mirrored = (name: string, help: string, read: (s: EngineStats) => number) => {
      const last = new Map<string, number>();
      return new Counter({
        name, help, labelNames: ["model"], registers,
        collect() {
          for (const [model, s] of stats()) {
            const v = read(s), d = v - (last.get(model) ?? 0);
            this.inc({ model }, Math.max(d, 0)); // 0 too, so the series exists from the first scrape
            last.set(model, v);
          }
        },
      });
    };
    gauge("infer_repl_requests_running", "Sequences the engine is running (generating or prefilling).", (s) => s.running);
    gauge("infer_repl_requests_waiting", "Sequences queued for admission (including preempted ones).", (s) => s.waiting);
    new Gauge({
      name: "infer_repl_kv_blocks", help: "KV cache blocks by state: used (held by sequences), free, cached (free but holding a reusable prefix).",
      labelNames: ["model", "state"], registers,
      collect() {
        for (const [model, s] of stats()) {
          this.set({ model, state: "used" }, s.blocks.used);
          this.set({ model, state: "free" }, s.blocks.free);
          this.set({ model, state: "cached" }, s.blocks.cached);
        }
      },
    });
    gauge("infer_repl_kv_blocks_total", "KV cache blocks in the pool.", (s) => s.blocks.total);
    new Gauge({
      name: "infer_repl_kv_window_blocks",
      help: "KV blocks of the sliding-window layers (models that keep them apart: only each sequence's window stays) by state: used, free, cached, total.",
      labelNames: ["model", "state"], registers,
      collect() {
        for (const [model, s] of stats()) {
          if (!s.windowBlocks) continue;
          for (const state of ["used", "free", "cached", "total"] as const) this.set({ model, state }, s.windowBlocks[state]);
        }
      },
    });
    gauge("infer_repl_kv_used_bytes", "Bytes of K/V in the blocks sequences hold (both pools).", (s) => s.kvBytesUsed);
    gauge("infer_repl_prefix_cache_hit_rate", "Prompt tokens found in the prefix cache / prompt tokens looked up, since start.", (s) => s.prefixCache.hitRate);
    mirrored("infer_repl_prefix_cache_hit_tokens_total", "Prompt tokens whose K/V came from the prefix cache.", (s) => s.prefixCache.hitTokens);
    mirrored("infer_repl_preemptions_total", "Sequences preempted because the KV pool ran dry.", (s) => s.preemptions);
    mirrored("infer_repl_engine_steps_total", "Engine steps (one native forward each).", (s) => s.steps);
    mirrored("infer_repl_prompt_tokens_computed_total", "Prompt tokens the engine computed (prefix-cache hits excluded).", (s) => s.promptTokensComputed);
    mirrored("infer_repl_generated_tokens_total", "Tokens the engine generated.", (s) => s.tokensGenerated);
    gauge("infer_repl_generated_tokens_per_second", "Generated tokens per second over the last ~2 s of steps.", (s) => s.tokensPerS);
    this.requests = new Counter({ name: "infer_repl_requests_total", help: "Generation requests by outcome (finished, aborted, error).", labelNames: ["model", "outcome"], registers });
    this.promptTokens = new Counter({ name: "infer_repl_request_prompt_tokens_total", help: "Prompt tokens of finished requests (tokens in).", labelNames: ["model"], registers });
    this.completionTokens = new Counter({ name: "infer_repl_request_completion_tokens_total", help: "Completion tokens of finished requests (tokens out).", labelNames: ["model"], registers });
    this.specDrafted = new Counter({ name: "infer_repl_speculative_drafted_tokens_total", help: "Draft tokens proposed by speculative decoding.", labelNames: ["model"], registers });
    this.specAccepted = new Counter({ name: "infer_repl_speculative_accepted_tokens_total", help: "Draft tokens accepted by verification.", labelNames: ["model"], registers });
    const spec = this.spec;
    new Gauge({
      name: "infer_repl_speculative_acceptance_rate", help: "Accepted / drafted tokens of finished speculative requests, since start.", labelNames: ["model"], registers,
      collect() {
        for (const [model, { drafted, accepted }] of spec) this.set({ model }, drafted > 0 ? accepted / drafted : 0);
      },
    });
    this.ttft = new Histogram({ name: "infer_repl_time_to_first_token_seconds", help: "From a choice's submission to its first token.", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers });
    this.interToken = new Histogram({ name: "infer_repl_inter_token_seconds", help: "Between consecutive tokens of one choice, as the server received them.", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers });
    this.stepSeconds = new Histogram({ name: "infer_repl_step_forward_seconds", help: "Wall time of one engine step's native forward.", labelNames: ["model"], buckets: LATENCY_BUCKETS, registers });
  }

  /** Starts reporting an engine's figures under `model`. */
  watch(model: string, engine: Engine): void {
    this.engines.set(model, engine);
    this.unwatch.push(engine.onStep((info) => this.stepSeconds.observe({ model }, info.forwardMs / 1000)));
  }

  close(): void {
    for (const stop of this.unwatch.splice(0)) stop();
  }

  firstToken(model: string, seconds: number): void {
    this.ttft.observe({ model }, seconds);
  }

  nextToken(model: string, seconds: number): void {
    this.interToken.observe({ model }, seconds);
  }

  /** A choice ended: its outcome, and for a finished one its token counts and speculation figures. */
  choiceEnded(model: string, outcome: "finished" | "aborted" | "error", result?: GenerationResult, countPrompt = true): void {
    this.requests.inc({ model, outcome });
    if (!result) return;
    if (countPrompt) this.promptTokens.inc({ model }, result.stats.promptTokens);
    this.completionTokens.inc({ model }, result.stats.generatedTokens);
    const { specDrafted: drafted = 0, specAccepted: accepted = 0 } = result.stats;
    if (drafted === 0) return;
    this.specDrafted.inc({ model }, drafted);
    if (accepted > 0) this.specAccepted.inc({ model }, accepted);
    const totals = this.spec.get(model) ?? { drafted: 0, accepted: 0 };
    this.spec.set(model, { drafted: totals.drafted + drafted, accepted: totals.accepted + accepted });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
