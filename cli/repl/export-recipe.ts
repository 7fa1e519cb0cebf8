import path from "node:path";
import type { EngineOptions } from "../../core/engine.ts";
import { recipeConfigFromOptions, renderRecipe, type RecipeFigures } from "../../core/recipe-export.ts";
import { batchingOf, chatModeOf, chatSettingsOf, generateOptionsOf, loadSettingsOf } from "./config.ts";
import type { ReplState } from "./state.ts";

/**
 * `:export recipe FILE.ts` for a notebook session: the live settings as core's recipe (recipeConfigFromOptions +
 * renderRecipe), with the figures measured in the session as comments. What is REPL-specific lives here: reading
 * the settings, the loaded model and the measurements out of the session state.
 */
export function sessionRecipe(s: ReplState, recipePath: string, now = new Date()): string {
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
  const config = recipeConfigFromOptions(engine, generateOptionsOf(s.config), { sha256: s.model.sha256, chat });
  return renderRecipe(config, sessionFigures(s, now), path.resolve(recipePath));
}

/**
 * The session's measurements: decode tokens/s is the median over finished generations (the benchmark's tg figure
 * when nothing was generated), perplexity the last :ppl, acceptance the median speculative accept rate of the
 * generations that speculated.
 */
export function sessionFigures(s: ReplState, now: Date): RecipeFigures {
  const stats = s.cells.flatMap((c) => c.streams).filter((st) => st.status === "done" && st.stats).map((st) => st.stats!);
  const rates = stats.map((st) => st["decodeTokensPerS"]).filter((v) => v !== undefined);
  const accepts = stats.map((st) => st["specAcceptRate"]).filter((v) => v !== undefined);
  const figures: RecipeFigures = { measuredAt: now.toISOString() };
  const tokensPerS = rates.length > 0 ? median(rates) : s.measured.bench?.tgTokensPerS;
  if (tokensPerS !== undefined) figures.tokensPerS = tokensPerS;
  if (accepts.length > 0) figures.acceptRate = median(accepts);
  if (s.measured.ppl) {
    figures.perplexity = s.measured.ppl.ppl;
    figures.perplexityText = path.basename(s.measured.ppl.file);
  }
  return figures;
}

function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}
