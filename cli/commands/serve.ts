import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import type { Recipe } from "../../core/recipe.ts";
import type { ModelSpec } from "../../server/models.ts";
import { UsageError } from "../errors.ts";
import { log } from "../io.ts";
import { addEngineOptions, engineOptions, intArg, type EngineFlags } from "../options.ts";

interface Flags extends EngineFlags {
  host: string;
  port: number;
  parallel?: number;
  apiKey?: string[];
  apiKeyFile?: string;
  metrics?: boolean;
  metricsPublic?: boolean;
  alias?: string;
  maxQueue: number;
  replicaId?: string;
  drainTimeout: number;
}

/**
 * `infer-repl serve (-m MODEL | RECIPE.ts...)`: the OpenAI-compatible server. Flags follow llama-server's names
 * (--host, --port, -np/--parallel, --api-key, --api-key-file, --metrics, -a/--alias). Runs until SIGINT or SIGTERM:
 * SIGTERM drains (running requests finish, for up to --drain-timeout seconds, new ones get 503), SIGINT or a second
 * signal stops at once.
 */
export function registerServe(program: Command): void {
  const cmd = program
    .command("serve")
    .description("OpenAI-compatible HTTP server of a model (-m) or of recipes (each recipe is a model id)")
    .argument("[recipes...]", "recipe files (TypeScript, `export default defineRecipe(import.meta, {...})`)");
  addEngineOptions(cmd)
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", intArg(0, 65535), 8080)
    .option("--parallel <n>", "sequences decoded together (-np; sets --max-seqs)", intArg(1, 4096))
    .option("--api-key <key>", "require this bearer key (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--api-key-file <file>", "require one of the keys in this file (one per line)")
    .option("--metrics", "serve Prometheus metrics at /metrics")
    .option("--metrics-public", "/health and /metrics answer without a key")
    .option("-a, --alias <name>", "model id of -m (default: the file's name without .gguf)")
    .option("--max-queue <n>", "sequences that may wait for admission before requests get 503", intArg(1, 1 << 20), 256)
    .option("--replica-id <id>", "name sent as the x-infer-repl-replica header (default HOSTNAME:PORT)")
    .option("--drain-timeout <s>", "on SIGTERM, seconds running requests may take to finish before the server stops", intArg(0, 86400), 30)
    .action(async (recipes: string[], flags: Flags) => {
      if (recipes.length === 0 && flags.model === undefined) throw new UsageError("serve needs a model (-m MODEL) or recipe files");
      // The engine, the server and Fastify load only when serve runs (the CLI's start-up stays small).
      const { createServer } = await import("../../server/app.ts");
      const specs = [
        ...(flags.model === undefined ? [] : [await modelSpec(flags)]),
        ...(await Promise.all(recipes.map((file) => recipeSpec(file, flags.parallel)))),
      ];
      const server = createServer({
        models: specs,
        apiKeys: apiKeys(flags),
        metrics: flags.metrics ?? false,
        metricsPublic: flags.metricsPublic ?? false,
        maxQueue: flags.maxQueue,
        replicaId: flags.replicaId,
      });
      const { url } = await server.listen(flags.port, flags.host);
      log(`listening on ${url} (loading ${specs.map((s) => s.id).join(", ")})`);
      try {
        await server.models.ready();
      } catch (e) {
        await server.close();
        throw e;
      }
      log(`ready: ${url}/v1 serves ${specs.map((s) => s.id).join(", ")}`);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      if (signal === "SIGINT") return server.close();
      const { active } = server.activity();
      log(`draining: ${active} running request(s), up to ${flags.drainTimeout} s`);
      const stopNow = () => void server.close();
      process.once("SIGINT", stopNow);
      process.once("SIGTERM", stopNow);
      const finished = await server.drain(flags.drainTimeout * 1000);
      log(finished ? "drained" : `drain timed out after ${flags.drainTimeout} s: running requests were cut`);
    });
}

/** llama-server's `-np N`: commander takes one-letter short flags only, so it is spelled --parallel before parsing. */
export function llamaServerAliases(argv: readonly string[]): string[] {
  return argv[0] === "serve" ? argv.map((a) => (a === "-np" ? "--parallel" : a.startsWith("-np=") ? `--parallel=${a.slice(4)}` : a)) : [...argv];
}

async function modelSpec(flags: Flags): Promise<ModelSpec> {
  const [{ Engine }, { resolveModelArg }] = await Promise.all([import("../../core/engine.ts"), import("../model-arg.ts")]);
  const file = await resolveModelArg(flags.model);
  const options = engineOptions({ ...flags, maxSeqs: flags.parallel ?? flags.maxSeqs }, file);
  // A cache name (stories15M) is the id as given; a path or URL gives its file name without .gguf.
  const given = flags.model!;
  const id = flags.alias ?? (/[\\/]|\.gguf$/i.test(given) ? path.basename(file).replace(/\.gguf$/i, "") : given);
  return { id, load: () => Engine.load(options) };
}

async function recipeSpec(file: string, parallel: number | undefined): Promise<ModelSpec> {
  const full = path.resolve(file);
  if (!existsSync(full)) throw new UsageError(`${file}: no such recipe file`);
  let recipe: Recipe;
  try {
    const [{ isRecipe }, { enableRecipeImports }] = await Promise.all([import("../../core/recipe.ts"), import("../recipe-imports.ts")]);
    await enableRecipeImports();
    const loaded = ((await import(pathToFileURL(full).href)) as { default?: unknown }).default;
    if (!isRecipe(loaded)) throw new UsageError("the default export is not a recipe (expected export default defineRecipe(import.meta, { ... }))");
    recipe = loaded;
  } catch (e) {
    if (e instanceof Error && (e.name === "RecipeError" || e instanceof UsageError)) e.message = `${file}: ${e.message}`;
    throw e;
  }
  return {
    id: path.basename(file).replace(/\.[cm]?[jt]s$/, ""),
    load: async () => {
      const engine = await recipe.engine();
      if (parallel !== undefined) engine.configure({ maxSeqs: parallel });
      return engine;
    },
    defaults: recipe.requestDefaults,
    system: recipe.config.chat?.system,
  };
}

/** --api-key values and the non-empty lines of --api-key-file. */
function apiKeys(flags: Flags): string[] {
  const keys = [...(flags.apiKey ?? [])];
  if (flags.apiKeyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.apiKeyFile, "utf8");
    } catch (e) {
      throw new UsageError(`--api-key-file: cannot read ${flags.apiKeyFile}: ${(e as Error).message}`);
    }
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
    if (lines.length === 0) throw new UsageError(`--api-key-file: ${flags.apiKeyFile} holds no key`);
    keys.push(...lines);
  }
  if (keys.some((k) => k.trim() === "")) throw new UsageError("--api-key: a key must not be empty");
  return keys;
}
