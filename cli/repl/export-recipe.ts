import path from "node:path";
import type { EngineOptions } from "../../core/engine.ts";
import { recipeConfigFromOptions, renderRecipe, type RecipeFigures } from "../../core/recipe-export.ts";
import type { RecipeConfig } from "../../core/recipe-schema.ts";
import { batchingOf, chatModeOf, chatSettingsOf, generateOptionsOf, loadSettingsOf } from "./config.ts";
import type { ReplState } from "./state.ts";
import type { TuneResult } from "../../core/tune/search.ts";
import { tuneFigures } from "../../core/tune/recipe.ts";
import { configWithPoint } from "./tune.ts";

/**
 * `:export recipe FILE.ts` for a notebook session: the live settings as core's recipe (recipeConfigFromOptions +
 * renderRecipe), with the figures measured in the session as comments. What is REPL-specific lives here: reading
 * the settings, the loaded model and the measurements out of the session state.
 */
export function sessionRecipe(s: ReplState, recipePath: string, now = new Date()): string {
  const tuned = tunedUnder(s);
  if (tuned) return renderRecipe(sessionRecipeConfig({ ...s, config: configWithPoint(s.config, tuned.best.point) }), tuneFigures(tuned, now), path.resolve(recipePath));
  return renderRecipe(sessionRecipeConfig(s), sessionFigures(s, now), path.resolve(recipePath));
}

/** The last :tune's result when the session is still under the configuration it started from (or adopted it). */
export function tunedUnder(s: ReplState): TuneResult | undefined {
  const key = measuredUnder(s);
  return s.tuned && key !== undefined && s.tuned.measuredUnder === key ? s.tuned.result : undefined;
}

/** The recipe configuration of the session: the loaded model and the live settings. */
function sessionRecipeConfig(s: Pick<ReplState, "config" | "model">): RecipeConfig {
  if (!s.model) throw new Error("sessionRecipe: no model is loaded");
  const load = loadSettingsOf(s.config);
  const engine: EngineOptions = {
    model: s.model.path, threads: load.threads, contextSize: load.ctxSize, kvBlockSize: load.kvBlock, kvType: load.kvType,
    draftModel: s.model.draftPath, ...batchingOf(s.config),
  };
  // Chat mode's settings: a recipe renders its prompt as the user turn after the system prompt.
  const settings = chatSettingsOf(s.config);
  const chat = chatModeOf(s.config, s.model.chatTemplate ?? false)
    ? { ...(settings.system === undefined ? {} : { system: settings.system }), ...(settings.enableThinking === undefined ? {} : { enableThinking: settings.enableThinking }) }
    : undefined;
  return recipeConfigFromOptions(engine, generateOptionsOf(s.config), { sha256: s.model.sha256, chat });
}

/**
 * What a measurement was made under, so an exported recipe quotes only figures of its own configuration: the
 * recipe configuration at the time, or undefined when there is none (no model, one still loading so which model
 * will run is not known yet, or settings that no recipe can hold).
 */
export function measuredUnder(s: Pick<ReplState, "config" | "model" | "loading">): string | undefined {
  if (!s.model || s.loading) return undefined;
  try {
    return JSON.stringify(sessionRecipeConfig(s));
  } catch {
    return undefined; // settings no recipe can hold (:export says why): nothing measured under them is quoted
  }
}

/**
 * The session's measurements made under the exported configuration (cells and :bench under exactly its settings,
 * :ppl with its model file): decode tokens/s is the median over such finished generations (the benchmark's tg
 * figure when there are none), perplexity the last :ppl, acceptance the median speculative accept rate of the
 * generations that speculated.
 */
export function sessionFigures(s: ReplState, now: Date): RecipeFigures {
  const key = measuredUnder(s);
  const stats = s.cells.filter((c) => key !== undefined && c.measuredUnder === key).flatMap((c) => c.streams)
    .filter((st) => st.status === "done" && st.stats).map((st) => st.stats!);
  const rates = stats.map((st) => st["decodeTokensPerS"]).filter((v) => v !== undefined);
  const accepts = stats.map((st) => st["specAcceptRate"]).filter((v) => v !== undefined);
  const figures: RecipeFigures = { measuredAt: now.toISOString() };
  const bench = s.measured.bench?.measuredUnder === key ? s.measured.bench : undefined;
  const tokensPerS = rates.length > 0 ? median(rates) : bench?.tgTokensPerS;
  if (tokensPerS !== undefined) figures.tokensPerS = tokensPerS;
  if (accepts.length > 0) figures.acceptRate = median(accepts);
  const ppl = s.measured.ppl;
  if (ppl && s.model && ppl.sha256 === s.model.sha256) {
    figures.perplexity = ppl.ppl;
    figures.perplexityText = path.basename(ppl.file);
  }
  return figures;
}

function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}
