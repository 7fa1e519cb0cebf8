import type { EngineOptions } from "../engine.ts";
import type { GenerateOptions } from "../generation.ts";
import type { RecipeFigures } from "../recipe-export.ts";
import { DEFAULT_BATCHING } from "../engine.ts";
import type { WorkloadFigures } from "./measure.ts";
import { latencyOf, requestOf, type CandidateRow, type TuneResult } from "./search.ts";
import type { TunePoint } from "./space.ts";

/** The starting point of a tune from the configuration in use (unset settings at the engine's defaults). */
export function basePoint(engine: Omit<EngineOptions, "model">, generate: GenerateOptions, cores: number): TunePoint {
  const spec = generate.speculative;
  return {
    threads: engine.threads ?? cores,
    maxSeqs: engine.maxSeqs ?? DEFAULT_BATCHING.maxSeqs,
    maxBatchTokens: engine.maxBatchTokens ?? DEFAULT_BATCHING.maxBatchTokens,
    maxWaitMs: engine.maxWaitMs ?? DEFAULT_BATCHING.maxWaitMs,
    kvType: engine.kvType ?? "f16",
    kvBlockSize: engine.kvBlockSize ?? 16,
    ...(spec && (spec.mode === "ngram" || spec.mode === "draft") ? { speculative: { mode: spec.mode, k: spec.k ?? (spec.mode === "ngram" ? 8 : 4) } } : {}),
    ...(generate.earlyExit ? { earlyExit: generate.earlyExit } : {}),
  };
}

/** Engine and generation options with a tuned point's settings in place of the ones it searched over. */
export function applyPoint(p: TunePoint, engine: EngineOptions, generate: GenerateOptions): { engine: EngineOptions; generate: GenerateOptions } {
  const { speculative: _spec, earlyExit: _exit, ...rest } = generate;
  return {
    engine: { ...engine, threads: p.threads, maxSeqs: p.maxSeqs, maxBatchTokens: p.maxBatchTokens, maxWaitMs: p.maxWaitMs, kvType: p.kvType, kvBlockSize: p.kvBlockSize },
    generate: { ...rest, ...requestOf(p) },
  };
}

/** The figures of a tune for its exported recipe: the chosen point's tokens/s, and the search as comment lines. */
export function tuneFigures(r: TuneResult, now = new Date()): RecipeFigures {
  const s = r.settings, best = r.best;
  const rows = r.rows;
  const count = (status: CandidateRow["status"]) => rows.filter((x) => x.status === status).length;
  const bound = s.target === "both" ? `, p99 bound ${s.p99BoundMs} ms` : "";
  const notes = [
    `Auto-tuned (infer-repl tune) for ${s.target}${bound}: ${s.streams} stream${s.streams === 1 ? "" : "s"} x ${s.genTokens} tokens on ${s.prompts} prompt${s.prompts === 1 ? "" : "s"}, ` +
      `budget ${Math.round(s.budgetMs / 1000)} s (took ${Math.round(r.elapsedMs / 1000)} s${r.stopped ? ", stopped early" : ""}), ${s.rounds} alternating rounds per candidate, perplexity bound +${(s.maxPplRise * 100).toFixed(1)}%.`,
    `Chosen: ${best.label}${best.figures ? ` — ${figuresText(r.confirm?.kept ? r.confirm.best : best.figures)}` : ""}.`,
    ...(r.confirm ? [r.confirm.kept
      ? `Against the defaults side by side (${r.confirm.rounds} alternating rounds, medians): ${r.confirm.ratio.toFixed(2)}x; defaults ${figuresText(r.confirm.base)}.`
      : `The best candidate was ${r.confirm.ratio.toFixed(2)}x the defaults over ${r.confirm.rounds} alternating rounds, not 2% faster: the defaults are kept.`] : []),
    `Searched ${s.knobs.join(", ")}: ${rows.length} configurations, ${count("measured")} measured, ${count("dropped")} stopped early, ${count("rejected")} rejected by the quality guard` +
      `${count("infeasible") ? `, ${count("infeasible")} over the p99 bound` : ""}${count("failed") ? `, ${count("failed")} failed` : ""}.`,
    `Pareto front (tokens/s against ${s.target === "latency" ? "TTFT" : "p99 token latency"}): ${r.pareto.map((x) => `${x.label} ${x.figures!.tokensPerS.toFixed(1)}/${latencyOf(x.figures!, s.target).toFixed(1)} ms`).join("; ") || "none"}.`,
  ];
  const tokensPerS = r.confirm?.kept ? r.confirm.best.tokensPerS : best.figures?.tokensPerS;
  return { ...(tokensPerS !== undefined ? { tokensPerS } : {}), measuredAt: now.toISOString(), notes };
}

export function figuresText(f: WorkloadFigures): string {
  return `${f.tokensPerS.toFixed(1)} tokens/s, TTFT ${f.ttftMs.toFixed(1)} ms, ${f.msPerToken.toFixed(2)} ms/token, p99 ${f.p99Ms.toFixed(1)} ms`;
}
