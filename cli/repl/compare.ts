import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Engine } from "../../core/engine.ts";
import type { GenerateOptions, GenerationResult } from "../../core/generation.ts";
import { isRecipe, type Recipe, type RecipeConfig } from "../../core/recipe.ts";
import type { ConfigValue } from "../session/session-file.ts";
import { SAMPLING_KEYS } from "./config.ts";

/** One side of :compare: a recipe file, or the REPL's live settings on its loaded engine ("current"). */
export type CompareSide = { recipe: string } | { current: Omit<GenerateOptions, "signal"> };

/** What one side gave for one prompt. */
export interface CompareAnswer {
  readonly text: string;
  readonly tokens: number;
  readonly decodeTokensPerS: number;
  readonly acceptRate?: number;
}

/** What `:keep A|B` adopts: the side's settings as REPL settings, and its model when it is a recipe's. */
export interface Adoptable {
  readonly config: Record<string, ConfigValue>;
  readonly model?: string;
}

export interface CompareRow {
  readonly prompt: string;
  readonly a: CompareAnswer;
  readonly b: CompareAnswer;
}

/** A recipe module's default export, loaded from its file (the worker runs under tsx, so .ts imports work). */
export async function loadRecipe(file: string): Promise<Recipe> {
  if (!existsSync(file)) throw new Error(`${file}: no such recipe file`);
  const recipe = ((await import(pathToFileURL(path.resolve(file)).href)) as { default?: unknown }).default;
  if (!isRecipe(recipe)) throw new Error(`${file}: the default export is not a recipe (export default defineRecipe(import.meta, { ... }))`);
  return recipe;
}

/**
 * Runs every prompt on both sides, one generation at a time so each side's speed is its own: A then B for each
 * prompt. A recipe runs as it runs on its own (its model, sampling, chat template); "current" is the live engine.
 */
export async function compare(
  a: CompareSide, b: CompareSide, prompts: readonly string[], engine: () => Promise<Engine | undefined>, signal: AbortSignal,
): Promise<{ rows: CompareRow[]; adopt: [Adoptable | null, Adoptable | null] }> {
  const sides = await Promise.all([a, b].map(async (side) => {
    if ("recipe" in side) {
      const recipe = await loadRecipe(side.recipe);
      return { run: (prompt: string) => recipe.generate(prompt, { signal }), adopt: adoptable(recipe.config) };
    }
    const e = await engine();
    if (!e) throw new Error("no model is loaded for the current settings (:load MODEL)");
    return { run: (prompt: string) => e.generate(prompt, { ...side.current, signal }), adopt: null };
  }));
  const run = sides.map((s) => s.run);
  const rows: CompareRow[] = [];
  for (const prompt of prompts) {
    const ra = answerOf(await run[0]!(prompt));
    const rb = answerOf(await run[1]!(prompt));
    rows.push({ prompt, a: ra, b: rb });
  }
  return { rows, adopt: [sides[0]!.adopt, sides[1]!.adopt] };
}

/** The REPL settings a recipe decides (what adoptable() may set; :keep clears the others of them). */
export const RECIPE_KEYS: readonly string[] = [
  ...SAMPLING_KEYS.map(([key]) => key), "n-predict", "stop", "system", "enable-thinking", "spec", "spec-k", "draft", "exit-early",
];

/**
 * A recipe's generation settings as the REPL's (:set keys), and its model file, for `:keep`. Load-time settings
 * other than the model (threads, context, KV) stay the session's.
 */
export function adoptable(r: RecipeConfig): Adoptable {
  const config: Record<string, ConfigValue> = {};
  const sampling = (r.sampling ?? {}) as Record<string, unknown>;
  for (const [key, field] of SAMPLING_KEYS) if (typeof sampling[field] === "number") config[key] = sampling[field] as number;
  if (r.maxTokens !== undefined) config["n-predict"] = r.maxTokens;
  if (r.stop) config["stop"] = [...r.stop];
  if (r.chat?.system !== undefined) config["system"] = r.chat.system;
  if (r.chat?.enableThinking !== undefined) config["enable-thinking"] = r.chat.enableThinking;
  const spec = r.speculative;
  if (spec) {
    config["spec"] = spec.mode === "self" ? `self:${spec.layers}` : spec.mode;
    if (spec.k !== undefined) config["spec-k"] = spec.k;
    if (spec.mode === "draft") config["draft"] = spec.draft;
  }
  if (r.earlyExit) config["exit-early"] = r.earlyExit.map((p) => `${p.layer}:${p.threshold}`).join(",");
  return { config, ...("file" in r.model ? { model: r.model.file } : { model: r.model.name }) };
}

function answerOf(r: GenerationResult): CompareAnswer {
  return {
    text: r.text, tokens: r.tokens.length, decodeTokensPerS: r.stats.decodeTokensPerS,
    ...(r.stats.specAcceptRate === undefined ? {} : { acceptRate: r.stats.specAcceptRate }),
  };
}

/** The two sides' answers in two columns of `width` characters overall, each prompt with its figures. */
export function compareTable(labels: [string, string], rows: readonly CompareRow[], width: number): string {
  const col = Math.max(20, Math.floor((width - 3) / 2));
  const wrap = (text: string) => text.split("\n").flatMap((line) => {
    const out: string[] = [];
    for (let i = 0; i < Math.max(1, line.length); i += col) out.push(line.slice(i, i + col));
    return out;
  });
  const figures = (x: CompareAnswer) => `${x.tokens} tokens · ${x.decodeTokensPerS.toFixed(1)} t/s` + (x.acceptRate === undefined ? "" : ` · acceptance ${(x.acceptRate * 100).toFixed(0)}%`);
  const lines = [`${labels[0].slice(0, col).padEnd(col)} │ ${labels[1].slice(0, col)}`];
  for (const r of rows) {
    lines.push(`── ${r.prompt} `.padEnd(col * 2 + 3, "─"));
    const left = [...wrap(r.a.text), figures(r.a)], right = [...wrap(r.b.text), figures(r.b)];
    for (let i = 0; i < Math.max(left.length, right.length); i++) lines.push(`${(left[i] ?? "").padEnd(col)} │ ${right[i] ?? ""}`);
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const summary = (pick: (r: CompareRow) => CompareAnswer) => `mean ${mean(rows.map((r) => pick(r).decodeTokensPerS)).toFixed(1)} t/s`;
  lines.push(`${summary((r) => r.a).padEnd(col)} │ ${summary((r) => r.b)}`);
  return lines.join("\n");
}
