import path from "node:path";
import type { EngineOptions } from "./engine.ts";
import type { GenerateOptions } from "./generation.ts";
import { parseRecipeConfig, recipeSchema, RecipeError, withoutUndefined, type RecipeConfig, type RecipeInput, type RecipeModel } from "./recipe-schema.ts";
import { knownModelWithSha256 } from "./models/registry.ts";
import type { SpeculativeOptions } from "./speculative/options.ts";

/** Figures measured while the configuration was tuned; they go into the recipe as comments. */
export interface RecipeFigures {
  tokensPerS?: number;
  /** Speculative decoding's accepted fraction of drafted tokens, 0..1. */
  acceptRate?: number;
  perplexity?: number;
  /** The text the perplexity was measured on (a file name), so the figure can be compared. */
  perplexityText?: string;
  /** When the figures were measured (ISO 8601). */
  measuredAt?: string;
  /** More lines of comment under the figures (an auto-tune's search settings and results). */
  notes?: readonly string[];
}

/**
 * The recipe configuration of a live session: the engine's load options and the generation options in use.
 * `sha256` pins the model (compute it with sha256File); a file with a known model's sha256 is named by that model's
 * name, so the recipe finds it on any machine (model cache, INFER_REPL_MODELS, download) instead of by this one's
 * path. Options a recipe cannot carry are refused, not dropped.
 */
export function recipeConfigFromOptions(engine: EngineOptions, generate: GenerateOptions, extra: { sha256?: string; chat?: RecipeConfig["chat"] } = {}): RecipeConfig {
  const { maxTokens, stop, signal: _signal, addSpecial, parseSpecial, ignoreEos, speculative, earlyExit, grammar, jsonSchema, schema, ...sampling } = generate;
  if (schema !== undefined) throw new RecipeError("schema: a zod schema cannot be written into a recipe file; give its JSON Schema");
  if (grammar !== undefined && typeof grammar !== "string") throw new RecipeError("grammar: write the grammar's text, not a compiled Grammar");
  if (parseSpecial) throw new RecipeError("parseSpecial: a recipe cannot carry this option (chat recipes parse special tokens themselves)");
  if (ignoreEos) throw new RecipeError("ignoreEos: a recipe cannot carry this option (it is for benchmarks)");
  const kv = withoutUndefined({ blockSize: engine.kvBlockSize, type: engine.kvType, memoryMiB: engine.kvMemoryMiB });
  const batching = withoutUndefined({ maxSeqs: engine.maxSeqs, maxBatchTokens: engine.maxBatchTokens, maxWaitMs: engine.maxWaitMs });
  const config = withoutUndefined({
    model: modelOf(engine.model, extra.sha256),
    threads: engine.threads,
    contextSize: engine.contextSize,
    kv: isEmpty(kv) ? undefined : kv,
    batching: isEmpty(batching) ? undefined : batching,
    sampling: isEmpty(withoutUndefined(sampling)) ? undefined : withoutUndefined(sampling),
    maxTokens,
    stop: stop && stop.length > 0 ? stop : undefined,
    addSpecial,
    chat: extra.chat,
    speculative: speculative && recipeSpeculative(speculative, engine.draftModel),
    earlyExit,
    grammar,
    schema: typeof jsonSchema === "string" ? (JSON.parse(jsonSchema) as object) : jsonSchema,
  });
  return parseRecipeConfig(config, process.cwd());
}

function modelOf(file: string, sha256: string | undefined): RecipeModel {
  const known = sha256 === undefined ? undefined : knownModelWithSha256(sha256);
  return known ? { name: known.name, sha256: known.sha256 } : withoutUndefined({ file: path.resolve(file), sha256 });
}

/**
 * Speculative options as a recipe holds them: the draft model goes with mode "draft" (a draft model loaded but not
 * drafted from changes nothing the recipe produces, so it is left out).
 */
function recipeSpeculative(o: SpeculativeOptions, draftModel: string | undefined): RecipeInput["speculative"] {
  if (o.mode === "draft") {
    if (draftModel === undefined) throw new RecipeError('speculative: mode "draft" needs the engine\'s draftModel');
    return withoutUndefined({ mode: o.mode, draft: path.resolve(draftModel), k: o.k });
  }
  if (o.mode === "self") return withoutUndefined({ mode: o.mode, layers: o.layers!, k: o.k });
  return withoutUndefined({ mode: o.mode, k: o.k });
}

/**
 * The TypeScript source of a recipe for `config`, to be written at `recipePath` (the model path is made relative
 * to its folder; absolute without it). The measured figures become comments. Running the file with tsx, or
 * importing it, gives the same engine and generation settings.
 */
export function renderRecipe(config: RecipeConfig, figures: RecipeFigures = {}, recipePath?: string): string {
  const dir = recipePath === undefined ? undefined : path.dirname(path.resolve(recipePath));
  const checked = parseRecipeConfig(config, dir ?? process.cwd());
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(recipeSchema.shape) as (keyof RecipeConfig)[]) {
    const value = key === "model" ? modelLiteral(checked.model, dir) : key === "speculative" ? speculativeLiteral(checked.speculative, dir) : checked[key];
    if (value !== undefined) fields[key] = value;
  }
  const name = recipePath === undefined ? "recipe.ts" : path.basename(recipePath);
  const lines = [
    `// infer-repl recipe${figures.measuredAt ? `, exported ${figures.measuredAt}` : ""}.`,
    `// Run: npx tsx ${name} "Once upon a time"   (or pipe prompts on stdin, one per line)`,
    `// Use: import recipe from "./${name}"; const { text } = await recipe.generate("Once upon a time");`,
  ];
  const measured = measuredLine(figures);
  if (measured) lines.push(`// Measured when tuned: ${measured}.`);
  for (const note of figures.notes ?? []) lines.push(...note.split("\n").map((l) => `// ${l}`));
  if (checked.sampling?.seed === undefined && (checked.sampling?.temperature ?? 1) > 0) {
    lines.push("// No sampling seed: the text differs from run to run.");
  }
  lines.push(
    `import { defineRecipe } from "infer-repl";`,
    "",
    `export default defineRecipe(import.meta, ${literal(fields, "")});`,
    "",
  );
  return lines.join("\n");
}

function measuredLine(f: RecipeFigures): string {
  const parts: string[] = [];
  if (f.tokensPerS !== undefined) parts.push(`${f.tokensPerS.toFixed(1)} tokens/s`);
  if (f.acceptRate !== undefined) parts.push(`speculative accept rate ${(f.acceptRate * 100).toFixed(1)}%`);
  if (f.perplexity !== undefined) parts.push(`perplexity ${f.perplexity.toFixed(3)}${f.perplexityText ? ` on ${f.perplexityText}` : ""}`);
  return parts.join("; ");
}

/** A cache name stays a name; a file becomes a path relative to the recipe ("./" or "../" first, "/" separators). */
function modelLiteral(model: RecipeModel, dir: string | undefined): unknown {
  if ("name" in model) return model.sha256 === undefined ? model.name : { name: model.name, sha256: model.sha256 };
  return withoutUndefined({ file: relativeToRecipe(model.file, dir), sha256: model.sha256 });
}

/** The draft model, like the model, relative to the recipe (a cache name is not a path: it stays as it is). */
function speculativeLiteral(spec: RecipeConfig["speculative"], dir: string | undefined): unknown {
  if (spec?.mode !== "draft" || !path.isAbsolute(spec.draft)) return spec;
  return { ...spec, draft: relativeToRecipe(spec.draft, dir) };
}

function relativeToRecipe(file: string, dir: string | undefined): string {
  if (dir === undefined) return file;
  const rel = path.relative(dir, file).split(path.sep).join("/");
  return rel.startsWith("../") ? rel : `./${rel}`;
}

const IDENTIFIER = /^(?:[A-Za-z_$][\w$]*|\d+)$/;

/** A TypeScript literal: objects and arrays on one line when short, otherwise one field per line. */
function literal(value: unknown, indent: string): string {
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : value > 0 ? "Infinity" : value < 0 ? "-Infinity" : "NaN";
  if (typeof value !== "object" || value === null) return JSON.stringify(value);
  const inner = indent + "  ";
  const items = Array.isArray(value)
    ? value.map((v) => literal(v, inner))
    : Object.entries(value).map(([k, v]) => `${IDENTIFIER.test(k) ? k : JSON.stringify(k)}: ${literal(v, inner)}`);
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  if (items.length === 0) return open + close;
  const oneLine = Array.isArray(value) ? `[${items.join(", ")}]` : `{ ${items.join(", ")} }`;
  if (indent !== "" && oneLine.length + indent.length <= 100 && !oneLine.includes("\n")) return oneLine;
  return `${open}\n${items.map((i) => `${inner}${i},`).join("\n")}\n${indent}${close}`;
}

function isEmpty(o: object): boolean {
  return Object.keys(o).length === 0;
}
