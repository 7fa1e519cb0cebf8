import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { InvalidArgumentError, type Command } from "commander";
import type { EngineOptions } from "../../core/engine.ts";
import type { GenerateOptions } from "../../core/generation.ts";
import type { RecipeConfig } from "../../core/recipe-schema.ts";
import type { TuneTarget } from "../../core/tune/space.ts";
import { UsageError } from "../errors.ts";
import { log, writeJson } from "../io.ts";
import { resolveModelArg } from "../model-arg.ts";
import { addEngineOptions, addGenerateOptions, engineOptions, floatArg, generateOptions, intArg, type EngineFlags, type GenerateFlags } from "../options.ts";

interface Flags extends EngineFlags, GenerateFlags {
  target: TuneTarget; streams: number; p99Ms?: number; prompts?: string; budget: number; gen?: number; maxPplRise: number;
  output?: string; json?: boolean;
}

/** Prompts when no workload is given: short story openings, one per stream in turn. */
export const DEFAULT_TUNE_PROMPTS = ["Once upon a time", "The little dog ran to the park and", "One day, a girl named Lily found a", "Tom and his friend wanted to"];

function target(text: string): TuneTarget {
  if (text === "latency" || text === "throughput" || text === "both") return text;
  throw new InvalidArgumentError(`expected latency, throughput or both, got '${text}'`);
}

/**
 * `infer-repl tune -m MODEL` / `infer-repl tune RECIPE.ts`: searches threads, batching, KV and speculation settings
 * on a workload (core/tune) from the given configuration, prints the candidates and the Pareto front, and writes the
 * chosen configuration as a recipe with -o. Ctrl+C stops the search and keeps the best so far.
 */
export function registerTune(program: Command): void {
  const cmd = program.command("tune")
    .description("auto-tune threads, batching, KV and speculation on a workload; -o writes the best as a recipe")
    .argument("[recipe]", "a recipe file to start from (its model and settings), instead of -m and the flags");
  addGenerateOptions(addEngineOptions(cmd))
    .option("--target <t>", "latency (one stream's TTFT and per-token latency), throughput (tokens/s of --streams), or both (throughput within --p99-ms)", target, "throughput")
    .option("--streams <n>", "concurrent streams of a throughput tune", intArg(1, 4096), 32)
    .option("--p99-ms <ms>", "with --target both: the 99th percentile inter-token latency to keep", floatArg(0, 1e6, true))
    .option("--prompts <file>", "the workload: a text file, one prompt per line (default: a few story openings)")
    .option("--budget <s>", "time budget of the search in seconds", floatArg(0, 86_400, true), 120)
    .option("--gen <n>", "tokens generated per stream and measurement (default: sized to the budget)", intArg(1, 4096))
    .option("--max-ppl-rise <pct>", "quality guard: reject settings that raise perplexity more than this many percent", floatArg(0, 1000), 1)
    .option("-o, --output <file.ts>", "write the chosen configuration as a recipe")
    .option("--json", "print the result as JSON")
    .addHelpText("after", `
The search starts from the configuration the flags (or the recipe) give and varies one setting at a time: threads,
--max-seqs, --max-batch-tokens, --max-wait-ms, --kv-type, --kv-block, speculation (off, n-gram, draft with --draft)
and early exit. Each value races the current best in alternating rounds; settings that change outputs (early exit,
q8_0 KV) are kept only if perplexity on the workload rises no more than --max-ppl-rise. The winner must beat the
starting configuration side by side, else the start is kept. Ctrl+C stops the search and keeps the best so far.

Examples:
  infer-repl tune -m stories15M --streams 32 -o tuned.ts
  infer-repl tune recipe.ts --target both --p99-ms 80 --prompts prompts.txt -o tuned.ts
  infer-repl tune -m model.gguf --target latency --budget 60`)
    .action(async (recipeFile: string | undefined, flags: Flags) => {
      if (flags.target === "both" && flags.p99Ms === undefined) throw new UsageError("--target both needs --p99-ms (the p99 latency bound)");
      if (flags.output !== undefined && !/\.[cm]?ts$/.test(flags.output)) throw new UsageError(`-o: a recipe is a TypeScript file: give a name ending in .ts, not '${flags.output}'`);
      const prompts = flags.prompts === undefined ? DEFAULT_TUNE_PROMPTS : readPrompts(flags.prompts);
      const start = recipeFile === undefined ? await fromFlags(flags) : await fromRecipe(recipeFile);
      const [{ tune }, { basePoint, applyPoint, tuneFigures }, { recipeConfigFromOptions, renderRecipe }, { sha256File }, table] = await Promise.all([
        import("../../core/tune/search.ts"), import("../../core/tune/recipe.ts"), import("../../core/recipe-export.ts"),
        import("../../core/fs/sha256-file.ts"), import("../tune-table.ts"),
      ]);
      const controller = new AbortController();
      const stop = () => {
        log("\nstopping: the best configuration so far is kept");
        controller.abort();
      };
      process.once("SIGINT", stop);
      // Hashed before the search, so the budget's end is the command's end (the recipe pins the model by it).
      const sha256 = flags.output === undefined ? undefined : await sha256File(start.engine.model);
      const live = process.stderr.isTTY;
      let lastLine = 0;
      try {
        const r = await tune({
          model: start.engine.model, draftModel: start.engine.draftModel, prompts, target: flags.target, streams: flags.streams,
          ...(flags.p99Ms !== undefined ? { p99BoundMs: flags.p99Ms } : {}), budgetMs: flags.budget * 1000,
          // The budget is the whole command's: it started with the process (performance.now() counts from there).
          startedAt: 0,
          ...(flags.gen !== undefined ? { genTokens: flags.gen } : {}), maxPplRise: flags.maxPplRise / 100,
          base: basePoint(start.engine, start.generate, availableParallelism()),
          ...(start.engine.contextSize !== undefined ? { contextSize: start.engine.contextSize } : {}),
          ...(start.engine.kvMemoryMiB !== undefined ? { kvMemoryMiB: start.engine.kvMemoryMiB } : {}),
          signal: controller.signal,
          onProgress: (s) => {
            const now = performance.now();
            if (live && (now - lastLine > 200 || s.done)) {
              lastLine = now;
              process.stderr.write(`\r\x1b[2K${table.tuneStatusLine(s).slice(0, (process.stderr.columns || 100) - 1)}`);
            }
          },
        });
        if (live) process.stderr.write("\n");
        if (flags.output !== undefined) {
          const chosen = applyPoint(r.best.point, start.engine, start.generate);
          const config = recipeConfigFromOptions(chosen.engine, chosen.generate, { sha256, chat: start.chat });
          const out = path.resolve(flags.output);
          writeFileSync(out, renderRecipe(config, tuneFigures(r), out));
          log(`wrote ${out}`);
        }
        if (flags.json) {
          return writeJson({
            settings: r.settings, stopped: r.stopped, elapsed_ms: Math.round(r.elapsedMs), best: r.best.point, base: r.base.point,
            confirm: r.confirm ?? null, best_figures: r.best.figures ?? null, base_figures: r.base.figures ?? null,
            candidates: r.rows.map((x) => ({ label: x.label, status: x.status, ratio: x.ratio ?? null, figures: x.figures ?? null, quality: x.quality ?? null, note: x.note ?? null })),
            pareto: r.pareto.map((x) => x.label),
          });
        }
        process.stdout.write(`${table.tuneTable(r)}\n\n${table.tuneSummary(r)}\n`);
      } finally {
        process.off("SIGINT", stop);
      }
    });
}

interface Start { engine: EngineOptions; generate: GenerateOptions; chat?: RecipeConfig["chat"] }

async function fromFlags(flags: Flags): Promise<Start> {
  const model = await resolveModelArg(flags.model);
  return { engine: engineOptions(flags, model), generate: await generateOptions(flags) };
}

async function fromRecipe(file: string): Promise<Start> {
  const full = path.resolve(file);
  if (!existsSync(full)) throw new UsageError(`${file}: no such recipe file`);
  try {
    const [{ isRecipe, recipeEngineOptions }, { enableRecipeImports }] = await Promise.all([import("../../core/recipe.ts"), import("../recipe-imports.ts")]);
    await enableRecipeImports();
    const recipe = ((await import(pathToFileURL(full).href)) as { default?: unknown }).default;
    if (!isRecipe(recipe)) throw new UsageError("the default export is not a recipe (expected export default defineRecipe(import.meta, { ... }))");
    return { engine: await recipeEngineOptions(recipe.config), generate: recipe.requestDefaults, ...(recipe.config.chat ? { chat: recipe.config.chat } : {}) };
  } catch (e) {
    if (e instanceof Error && (e.name === "RecipeError" || e instanceof UsageError)) e.message = `${file}: ${e.message}`;
    throw e;
  }
}

function readPrompts(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`--prompts ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  const prompts = text.split("\n").filter((l) => l.trim() !== "");
  if (prompts.length === 0) throw new UsageError(`--prompts ${file}: no prompts (one per line)`);
  return prompts;
}
