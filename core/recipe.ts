import { realpathSync, statSync } from "node:fs";
import path from "node:path";
import { text as readAll } from "node:stream/consumers";
import { fileURLToPath } from "node:url";
import { Engine, type EngineOptions, type GenerationStream } from "./engine.ts";
import { sha256File } from "./fs/sha256-file.ts";
import type { GenerateOptions, GenerationResult, TokenEvent } from "./generation.ts";
import { resolveModel } from "./models/resolve.ts";
import { parseRecipeConfig, RecipeError, withoutUndefined, type RecipeConfig, type RecipeInput, type RecipeModel } from "./recipe-schema.ts";
import { chatPrompt, type ChatMessage } from "./chat/index.ts";

export { RecipeError, type RecipeConfig, type RecipeInput, type RecipeModel } from "./recipe-schema.ts";

/** What defineRecipe needs from the recipe module: `import.meta` (its URL locates the model and tells script mode). */
export interface RecipeModuleMeta {
  readonly url: string;
}

/** Marks recipes across module instances (a recipe outside the repo may load its own copy of infer-repl). */
const RECIPE_BRAND = Symbol.for("infer-repl.recipe");

export function isRecipe(value: unknown): value is Recipe {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[RECIPE_BRAND] === true;
}

/**
 * A tuned configuration that runs: `generate()`, `stream()` and `batch()` share one engine, loaded on first use
 * with the recipe's model, draft model, context, KV and batching settings; each request gets the recipe's sampling,
 * stop strings, maxTokens, speculative decoding, early exit and chat template, which per-call options may override.
 */
export class Recipe {
  readonly [RECIPE_BRAND] = true;
  private loading: Promise<Engine> | undefined;

  constructor(readonly config: Readonly<RecipeConfig>) {}

  /** The engine with the recipe's settings (loaded once; verifies the model's sha256 when the recipe pins it). */
  engine(): Promise<Engine> {
    this.loading ??= loadEngine(this.config).catch((e: unknown) => {
      this.loading = undefined; // let a later call retry (e.g. after the model was downloaded)
      throw e;
    });
    return this.loading;
  }

  async generate(prompt: string, options: GenerateOptions = {}): Promise<GenerationResult> {
    const r = await this.request(prompt, options);
    return r.engine.generate(r.prompt, r.options);
  }

  stream(prompt: string, options: GenerateOptions = {}): GenerationStream {
    const started = this.request(prompt, options).then((r) => r.engine.stream(r.prompt, r.options));
    const result = started.then((s) => s.result);
    result.catch(() => {}); // a consumer that only iterates sees the failure there
    return {
      result,
      async *[Symbol.asyncIterator](): AsyncIterator<TokenEvent> {
        yield* await started;
      },
    };
  }

  /** All prompts submitted at once (the engine batches them); results in input order. */
  batch(prompts: readonly string[], options: GenerateOptions = {}): Promise<GenerationResult[]> {
    return Promise.all(prompts.map((p) => this.generate(p, options)));
  }

  /** Ends running generations and refuses new ones. */
  async close(): Promise<void> {
    if (this.loading) (await this.loading.catch(() => undefined))?.close();
  }

  /**
   * Script mode: the arguments joined are one prompt, streamed to stdout after the prompt itself; with no
   * arguments every non-empty stdin line is a prompt, all submitted at once and printed in input order,
   * blocks separated by a blank line (as the CLI's pipe mode prints them).
   */
  async main(args: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
    if (args.length > 0) {
      const prompt = args.join(" ");
      await this.engine(); // a model that cannot be loaded fails before anything is printed
      out.write(prompt);
      for await (const e of this.stream(prompt)) out.write(e.text);
      out.write("\n");
      return;
    }
    const input = process.stdin.isTTY ? "" : await readAll(process.stdin);
    const prompts = input.split(/\r?\n/).filter((line) => line.trim() !== "");
    if (prompts.length === 0) throw new RecipeError("no prompt: give it as an argument or pipe prompts on stdin, one per line");
    const pending = prompts.map((p) => this.generate(p));
    for (const p of pending) p.catch(() => {}); // awaited in order below; a later failure must not go unhandled meanwhile
    for (const [i, p] of pending.entries()) out.write((i > 0 ? "\n" : "") + prompts[i] + (await p).text + "\n");
  }

  /** What each request gets from the recipe (sampling, maxTokens, stop, addSpecial, speculative, earlyExit). */
  get requestDefaults(): GenerateOptions {
    const { sampling, maxTokens, stop, addSpecial, earlyExit } = this.config;
    return withoutUndefined({ ...sampling, maxTokens, stop, addSpecial, speculative: speculativeOf(this.config), earlyExit });
  }

  private async request(prompt: string, overrides: GenerateOptions): Promise<{ engine: Engine; prompt: string; options: GenerateOptions }> {
    const engine = await this.engine();
    const { chat, grammar, schema } = this.config;
    const zod = schema !== undefined && typeof (schema as { safeParse?: unknown }).safeParse === "function";
    const constraint = overrides.grammar ?? overrides.jsonSchema ?? overrides.schema
      ? {}
      : { grammar, ...(zod ? { schema: schema as GenerateOptions["schema"] } : { jsonSchema: schema }) };
    const options = withoutUndefined({ ...this.requestDefaults, ...constraint, ...overrides });
    if (!chat) return { engine, prompt, options };
    const messages: ChatMessage[] = chat.system === undefined ? [] : [{ role: "system", content: chat.system }];
    messages.push({ role: "user", content: prompt });
    const chatted = await chatPrompt(engine, messages, chat.enableThinking === undefined ? {} : { enableThinking: chat.enableThinking });
    return { engine, prompt: chatted.prompt, options: { ...options, addSpecial: options.addSpecial ?? chatted.options.addSpecial, parseSpecial: true } };
  }
}

/**
 * Declares a recipe: `export default defineRecipe(import.meta, { model: "stories15M", sampling: {...} })`.
 * The configuration is checked now (RecipeError names the field and what was expected); model paths are relative
 * to the recipe file. When the recipe file is the program's entry (`tsx recipe.ts ...`), it also runs as a
 * script: prompt from the arguments or stdin lines, exit code 2 with the message on stderr for a bad recipe.
 */
export function defineRecipe(meta: RecipeModuleMeta, input: RecipeInput): Recipe {
  const file = recipeFile(meta);
  const script = isEntryModule(file);
  try {
    const config = parseRecipeConfig(input, path.dirname(file));
    const recipe = new Recipe(deepFreeze(config));
    if (script) setImmediate(() => void runAsScript(recipe, file));
    return recipe;
  } catch (e) {
    if (!script) throw e;
    process.exit(reportScriptFailure(e, file));
  }
}

function recipeFile(meta: RecipeModuleMeta): string {
  if (typeof meta === "object" && meta !== null && Object.keys(meta).length === 0) {
    // tsx compiles a .ts file as CommonJS where package.json does not say "type": "module"; import.meta is then {}.
    const e = new RecipeError('defineRecipe: import.meta has no url: the recipe was compiled as CommonJS (name it .mts, or put "type": "module" in its package.json)');
    // Run as `tsx recipe.ts` (the entry is a TypeScript file): say so and exit 2, as for any bad recipe run as a script.
    const entry = process.argv[1];
    if (entry && /\.[cm]?ts$/.test(entry)) process.exit(reportScriptFailure(e, entry));
    throw e;
  }
  const url = (meta as { url?: unknown } | undefined)?.url;
  if (typeof url !== "string" || !url.startsWith("file:")) {
    throw new RecipeError("defineRecipe: the first argument must be the recipe module's import.meta: defineRecipe(import.meta, { ... })");
  }
  return fileURLToPath(url);
}

/** Whether `file` is what node was asked to run (tsx keeps the script's path in argv[1]). */
function isEntryModule(file: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(file);
  } catch {
    return false;
  }
}

async function runAsScript(recipe: Recipe, file: string): Promise<void> {
  try {
    await recipe.main(process.argv.slice(2));
  } catch (e) {
    process.exitCode = reportScriptFailure(e, file);
  }
}

/** Prints why the recipe failed; returns its exit code: 2 for a bad recipe or no prompt, 1 otherwise. */
function reportScriptFailure(e: unknown, file: string): number {
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`${path.basename(file)}: ${message}\n`);
  return e instanceof RecipeError ? 2 : 1;
}

/** The request's speculative options: the recipe's, without the draft model (the engine holds that). */
function speculativeOf(config: RecipeConfig): GenerateOptions["speculative"] {
  if (!config.speculative) return undefined;
  const { mode, k } = config.speculative;
  return withoutUndefined({ mode, k, layers: "layers" in config.speculative ? config.speculative.layers : undefined });
}

async function loadEngine(config: RecipeConfig): Promise<Engine> {
  return Engine.load(await recipeEngineOptions(config));
}

/** The engine options of a recipe, its model (and draft) resolved to local files. */
export async function recipeEngineOptions(config: RecipeConfig): Promise<EngineOptions> {
  const model = await modelFile(config.model);
  const spec = config.speculative;
  // The draft is an absolute path (parseRecipeConfig resolved it against the recipe's folder) or a cache name.
  const draftRef: RecipeModel | undefined = spec?.mode !== "draft" ? undefined : path.isAbsolute(spec.draft) ? { file: spec.draft } : { name: spec.draft };
  const draftModel = draftRef && await modelFile(draftRef, "speculative.draft");
  const options: EngineOptions = {
    model,
    draftModel,
    threads: config.threads,
    contextSize: config.contextSize,
    kvBlockSize: config.kv?.blockSize,
    kvType: config.kv?.type,
    kvMemoryMiB: config.kv?.memoryMiB,
    ...config.batching,
  };
  return withoutUndefined(options);
}

/** The model's local file, checked against the recipe's sha256 when it gives one; `field` names it in errors. */
async function modelFile(model: RecipeModel, field?: string): Promise<string> {
  let file: string;
  if ("file" in model) {
    if (!isFile(model.file)) throw new RecipeError(`${field ?? "model.file"}: expected a GGUF file, but ${model.file} does not exist`);
    file = model.file;
  } else {
    try {
      file = (await resolveModel(model.name, { onNotice: (m) => process.stderr.write(m + "\n") })).path;
    } catch (e) {
      if (e instanceof Error && e.name === "ModelNotFoundError") throw new RecipeError(`${field ?? "model.name"}: ${e.message}`);
      throw e;
    }
  }
  if (model.sha256 !== undefined) {
    const actual = await sha256File(file);
    if (actual !== model.sha256.toLowerCase()) {
      throw new RecipeError(`model.sha256: expected ${model.sha256.toLowerCase()}, but ${file} has sha256 ${actual}`);
    }
  }
  return file;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
