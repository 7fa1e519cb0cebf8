import path from "node:path";
import { z } from "zod";
import { knownModel, knownModelNames } from "./models/registry.ts";
import { validateSamplingOptions, type SamplingOptions } from "./sampling/index.ts";
import { MAX_SPEC_K } from "./speculative/options.ts";
import { readFileSync } from "node:fs";
import { parseGbnf } from "./sampling/grammar/gbnf.ts";
import { jsonSchemaToGbnf } from "./sampling/grammar/json-schema.ts";

/** A recipe that cannot be used as written; the message names the field and what was expected. */
export class RecipeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecipeError";
  }
}

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const SHA256 = z.string().regex(/^[0-9a-fA-F]{64}$/, { error: "expected 64 hexadecimal digits" });
const isUrl = (s: string) => /^https?:\/\//i.test(s);

const MODEL_EXPECTED =
  `a known model name (${knownModelNames().join(", ")}), a GGUF path relative to the recipe, ` +
  `{ file: "path.gguf", sha256?: "..." } or { name: "stories15M", sha256?: "..." }`;

const modelSchema = z.union(
  [
    z.string().min(1),
    z.strictObject({ file: z.string().min(1), sha256: SHA256.optional() }),
    z.strictObject({
      name: z.string().refine((s) => knownModel(s) !== undefined || isUrl(s), {
        error: (issue) => `expected a known model name (${knownModelNames().join(", ")}) or an http(s) URL, got ${describe(issue.input)}`,
      }),
      sha256: SHA256.optional(),
    }),
  ],
  { error: (issue) => (issue.input === undefined ? `missing (expected ${MODEL_EXPECTED})` : `expected ${MODEL_EXPECTED}, got ${describe(issue.input)}`) },
);

/** Sampling is checked by the sampler's own validator, so recipes accept exactly what the engine accepts. */
const samplingSchema = z.custom<SamplingOptions>().transform((value, ctx) => {
  try {
    return validateSamplingOptions(value);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message, input: value });
    return z.NEVER;
  }
});

const specK = int(1, MAX_SPEC_K).optional();

/**
 * Speculative decoding as the engine's GenerateOptions.speculative takes it, plus the draft model for mode "draft"
 * (a cache name or a GGUF path relative to the recipe; it becomes the engine's draftModel).
 */
const speculativeSchema = z.discriminatedUnion("mode", [
  z.strictObject({ mode: z.literal("draft"), draft: z.string().min(1), k: specK }),
  z.strictObject({ mode: z.literal("ngram"), k: specK }),
  z.strictObject({ mode: z.literal("self"), layers: int(1, 1024), k: specK }),
], { error: (issue) => `expected "draft", "ngram" or "self", got ${describe((issue.input as { mode?: unknown } | undefined)?.mode)}` });

/** Early exit as CLI.md's --early-exit "L:T,L:T": leave at layer L when the top token's probability reaches T. */
const earlyExitSchema = z.array(z.strictObject({ layer: int(1, 1024), threshold: z.number().gt(0).max(1) })).min(1);

export const recipeSchema = z.strictObject({
  model: modelSchema,
  threads: int(1, 512).optional(),
  contextSize: int(1, 1 << 20).optional(),
  kv: z.strictObject({
    blockSize: int(1, 4096).optional(),
    type: z.enum(["f16", "f32"]).optional(),
    memoryMiB: z.number().positive().optional(),
  }).optional(),
  batching: z.strictObject({
    maxSeqs: int(1, 4096).optional(),
    maxBatchTokens: int(1, 1 << 16).optional(),
    maxWaitMs: int(0, 60_000).optional(),
  }).optional(),
  sampling: samplingSchema.optional(),
  maxTokens: int(1, 1 << 20).optional(),
  stop: z.array(z.string().min(1)).optional(),
  addSpecial: z.boolean().optional(),
  chat: z.strictObject({ system: z.string().optional(), enableThinking: z.boolean().optional() }).optional(),
  speculative: speculativeSchema.optional(),
  earlyExit: earlyExitSchema.optional(),
  /** Constrain every output to a GBNF grammar: its text, or { file } relative to the recipe. */
  grammar: z.union([z.string().min(1), z.strictObject({ file: z.string().min(1) })]).optional(),
  /** Constrain every output to JSON valid against this schema: a JSON Schema object or a zod schema. */
  schema: z.custom<object>((v) => typeof v === "object" && v !== null, { error: "expected a JSON Schema object or a zod schema" }).optional(),
});

/** What a recipe file passes to defineRecipe. */
export type RecipeInput = z.input<typeof recipeSchema>;

/** The model of a checked recipe: a cache name (or URL), or an absolute file path. */
export type RecipeModel = { name: string; sha256?: string } | { file: string; sha256?: string };

/** A checked recipe configuration: every field valid, the model file path (and a draft model's) absolute. */
export type RecipeConfig = Omit<z.output<typeof recipeSchema>, "model" | "grammar"> & { model: RecipeModel; grammar?: string };

/**
 * Checks a recipe configuration and resolves its model reference against the recipe's folder.
 * Throws RecipeError naming the first bad field(s).
 */
export function parseRecipeConfig(input: unknown, baseDir: string): RecipeConfig {
  const parsed = recipeSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    throw new RecipeError(parsed.error.issues.map(formatIssue).join("\n"));
  }
  const { model, speculative, grammar, ...rest } = parsed.data;
  const config: RecipeConfig = { model: resolveModelRef(model, baseDir), ...rest };
  if (grammar !== undefined) config.grammar = checkedGrammar(grammar, baseDir);
  if (rest.schema !== undefined && typeof (rest.schema as { safeParse?: unknown }).safeParse !== "function") {
    try {
      jsonSchemaToGbnf(rest.schema);
    } catch (e) {
      throw new RecipeError(`schema: ${(e as Error).message}`);
    }
  }
  if (grammar !== undefined && rest.schema !== undefined) throw new RecipeError("grammar, schema: give one of them, not both");
  if (speculative) {
    config.speculative = speculative.mode === "draft" ? { ...speculative, draft: resolveModelName(speculative.draft, baseDir) } : speculative;
  }
  return config;
}

/** The grammar's text (read from its file), parsed now so a malformed one fails when the recipe loads. */
function checkedGrammar(grammar: string | { file: string }, baseDir: string): string {
  let text = grammar as string;
  if (typeof grammar !== "string") {
    const file = path.resolve(baseDir, grammar.file);
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new RecipeError(`grammar.file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  try {
    if (!/<[^[]/.test(text)) parseGbnf(text); // token references (<...>) need the model: checked when it loads
  } catch (e) {
    throw new RecipeError(`grammar: ${(e as Error).message}`);
  }
  return text;
}

/** A model given as one string: a cache name or URL as it is, a file path made absolute against `baseDir`. */
function modelRefOf(model: string, baseDir: string): RecipeModel {
  return knownModel(model) || isUrl(model) ? { name: model } : { file: path.resolve(baseDir, model) };
}

function resolveModelName(model: string, baseDir: string): string {
  const ref = modelRefOf(model, baseDir);
  return "name" in ref ? ref.name : ref.file;
}

function resolveModelRef(model: z.output<typeof modelSchema>, baseDir: string): RecipeModel {
  if (typeof model === "string") return modelRefOf(model, baseDir);
  if ("file" in model) return { ...model, file: path.resolve(baseDir, model.file) };
  return { ...model };
}

type Issue = z.core.$ZodIssue & { input?: unknown };

function formatIssue(issue: Issue): string {
  const where = issue.path.length > 0 ? issue.path.map(String).join(".") : "recipe";
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined
        ? `${where}: missing (expected ${typeName(issue.expected)})`
        : `${where}: expected ${typeName(issue.expected)}, got ${describe(issue.input)}`;
    case "unrecognized_keys": {
      const known = knownKeys(issue.path);
      return `${where}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}` +
        (known ? ` (expected one of: ${known.join(", ")})` : "");
    }
    case "invalid_value":
      return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describe(issue.input)}`;
    case "custom": // the sampler's validator: its message names the option, the expectation and the value
      return `${where}: ${issue.message}`;
    case "invalid_union": // the unions' own error messages say what was expected and given
      return `${where}: ${issue.message}`;
    default: {
      // zod's own words ("Too small: expected number to be >=1") already say what was expected.
      const message = issue.message.replace(/^Invalid input: /, "");
      return `${where}: ${message}${"input" in issue ? `, got ${describe(issue.input)}` : ""}`;
    }
  }
}

/** The keys the schema allows at `at` (to list them after an unknown key), when that place is a plain object. */
function knownKeys(at: PropertyKey[]): string[] | undefined {
  let schema: z.ZodType = recipeSchema;
  for (const key of at) {
    while (schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
    if (schema instanceof z.ZodObject) schema = schema.shape[key as string] as z.ZodType;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return undefined;
    if (!schema) return undefined;
  }
  while (schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
}

function typeName(expected: string): string {
  const names: Record<string, string> = { int: "an integer", array: "an array", object: "an object", boolean: "true or false" };
  return names[expected] ?? `a ${expected}`;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `a string ${JSON.stringify(value.length > 60 ? value.slice(0, 57) + "..." : value)}`;
  if (typeof value === "number" || typeof value === "boolean") return `${typeof value} ${String(value)}`;
  return typeof value === "object" ? "an object" : typeof value;
}

/** A copy without the fields set to undefined (optional settings that were not given). */
export function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
