import { readFileSync } from "node:fs";
import type { ConfigValue } from "../session/session-file.ts";
import { basePoint } from "../../core/tune/recipe.ts";
import type { TunePoint, TuneTarget } from "../../core/tune/space.ts";
import { CommandError, splitArgs, TUNE_USAGE } from "./commands.ts";
import { batchingOf, generateOptionsOf, loadSettingsOf, type ReplConfig } from "./config.ts";
import type { TuneRequest } from "./protocol.ts";
import type { ReplState } from "./state.ts";

/**
 * `:tune ...` → the request for the engine side. The workload is the prompts file, else the notebook's own cells
 * (their prompts, and their prompts with outputs as the quality guard's text).
 */
export function tuneRequest(args: string, s: Pick<ReplState, "config" | "cells" | "model">, resolve: (file: string) => string): TuneRequest {
  const words = splitArgs(args);
  let target: TuneTarget = "throughput", streams = 32, budget = 120, maxRise = 1, p99: number | undefined, file: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "latency" || w === "throughput" || w === "both") {
      target = w;
      continue;
    }
    const value = words[++i];
    const num = (min: number, max: number) => {
      const v = Number(value);
      if (value === undefined || value === "" || !Number.isFinite(v) || v < min || v > max) throw new CommandError(`${w}: expected a number from ${min} to ${max}, got '${value ?? ""}'`);
      return v;
    };
    if (w === "--streams") streams = Math.round(num(1, 256));
    else if (w === "--budget") budget = num(1, 86_400);
    else if (w === "--p99") p99 = num(0.001, 1e6);
    else if (w === "--max-ppl-rise") maxRise = num(0, 1000);
    else if (w === "--prompts") file = resolve(value ?? "");
    else throw new CommandError(`usage: ${TUNE_USAGE} (unknown '${w}')`);
  }
  if (target === "both" && p99 === undefined) throw new CommandError(":tune both needs --p99 MS (the p99 inter-token latency to keep)");
  if (!s.model) throw new CommandError("no model is loaded (:load MODEL)");
  const { prompts, qualityText } = file !== undefined ? { prompts: readPrompts(file), qualityText: undefined } : cellsWorkload(s.cells);
  const load = loadSettingsOf(s.config);
  const base = basePoint({ ...batchingOf(s.config), threads: load.threads, kvType: load.kvType, kvBlockSize: load.kvBlock }, generateOptionsOf(s.config), s.model.threads);
  return {
    prompts, ...(qualityText !== undefined ? { qualityText } : {}), target, streams, ...(p99 !== undefined ? { p99BoundMs: p99 } : {}),
    budgetMs: budget * 1000, maxPplRise: maxRise / 100, base,
    ...(load.ctxSize !== undefined ? { contextSize: load.ctxSize } : {}),
  };
}

function readPrompts(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new CommandError(`${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  const prompts = text.split("\n").filter((l) => l.trim() !== "");
  if (prompts.length === 0) throw new CommandError(`${file}: no prompts (one per line)`);
  return prompts;
}

/** The notebook as a workload: its distinct prompts; its prompts with their outputs, when long enough, for quality. */
function cellsWorkload(cells: ReplState["cells"]): { prompts: string[]; qualityText: string | undefined } {
  const prompts = [...new Set(cells.map((c) => c.prompt).filter((p) => p.trim() !== ""))];
  if (prompts.length === 0) throw new CommandError(":tune measures on your workload: run a few prompts first, or give --prompts FILE (one prompt per line)");
  const text = cells.flatMap((c) => c.streams.filter((st) => st.status === "done").map((st) => c.prompt + st.text)).join("\n");
  return { prompts, qualityText: text.length >= 400 ? text : undefined };
}

/** The REPL settings of a tuned point (every searched key explicit; speculation and early exit set or removed). */
export function configWithPoint(config: ReplConfig, p: TunePoint): ReplConfig {
  const next: Record<string, ConfigValue> = {
    ...config, threads: p.threads, "max-seqs": p.maxSeqs, "max-batch-tokens": p.maxBatchTokens, "max-wait-ms": p.maxWaitMs,
    "kv-type": p.kvType, "kv-block": p.kvBlockSize,
  };
  if (p.speculative) {
    next["spec"] = p.speculative.mode;
    next["spec-k"] = p.speculative.k;
  } else if (config["spec"] === "ngram" || config["spec"] === "draft") {
    delete next["spec"];
    delete next["spec-k"];
  }
  if (p.earlyExit) next["exit-early"] = p.earlyExit.map((x) => `${x.layer}:${x.threshold}`).join(",");
  else delete next["exit-early"];
  return next;
}
