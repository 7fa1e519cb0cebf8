import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { SavedChat } from "../../core/chat/session.ts";
import { loadSession, saveSession, type ConfigValue } from "../session/session-file.ts";
import { COMMANDS, KEY_HELP, CommandError, parseCommand, splitArgs } from "./commands.ts";
import { RECIPE_KEYS, type CompareSide } from "./compare.ts";
import { SETTINGS, SettingError, applySetting, batchingOf, formatSetting, generateOptionsOf, loadSettingsOf, type ReplConfig } from "./config.ts";
import type { EngineLink } from "./engine-client.ts";
import { measuredUnder, sessionRecipe } from "./export-recipe.ts";
import { configWithPoint, tuneRequest } from "./tune.ts";
import { prepareRecipeFolder } from "../recipe-folder.ts";
import { fromSessionCells, toSessionCells, type ReplState } from "./state.ts";
import type { Store } from "./store.ts";
import { RecipeError } from "../../core/recipe-schema.ts";

export interface CommandContext {
  readonly store: Store;
  readonly link: EngineLink;
  readonly nextId: () => number;
  readonly runPrompt: (prompt: string, streams: number) => void;
  readonly quit: () => void;
  readonly cwd: string;
}

/** Runs one `:` line; every failure becomes an error line in the notebook, never an exception. */
export function runCommand(line: string, ctx: CommandContext): void {
  try {
    const { name, args } = parseCommand(line);
    HANDLERS[name]!(args, ctx);
  } catch (e) {
    if (e instanceof CommandError || e instanceof SettingError || (e as Error).name === "SessionError") {
      error(ctx, (e as Error).message);
    } else {
      error(ctx, `unexpected failure: ${(e as Error).stack ?? String(e)}`);
    }
  }
}

function info(ctx: CommandContext, text: string): void {
  ctx.store.dispatch({ type: "notice", tone: "info", text });
}
function warn(ctx: CommandContext, text: string): void {
  ctx.store.dispatch({ type: "notice", tone: "warn", text });
}
function error(ctx: CommandContext, text: string): void {
  ctx.store.dispatch({ type: "notice", tone: "error", text });
}

/** :set and the commands built on it; reports when the new value takes effect. */
function set(ctx: CommandContext, key: string, value: string): void {
  const before = ctx.store.get().config;
  const config = applySetting(before, key, value);
  ctx.store.dispatch({ type: "config", config });
  const def = SETTINGS.get(key)!;
  const shown = `${key} = ${formatSetting(config, key)}`;
  switch (def.scope) {
    case "prompt":
      if (key === "spec" && value.trim() === "draft" && config["draft"] === undefined) {
        return warn(ctx, `${shown} — no draft model: :set draft MODEL, then :load (prompts fail until then)`);
      }
      return info(ctx, `${shown} (from the next prompt)`);
    case "batching":
      if (ctx.store.get().model) ctx.link.send({ type: "configure", batching: batchingOf(config) });
      return info(ctx, `${shown} (from the next engine step)`);
    case "load": {
      const model = ctx.store.get().model;
      if (key === "kv-type" && config[key] === "q8_0" && model && model.headDim % 32 !== 0) {
        return warn(ctx, `${shown} (takes effect at the next :load) — but ${model.name} cannot use it: q8_0 KV needs a head size ` +
          `that is a multiple of 32 and this model's is ${model.headDim}, so loading it again with q8_0 will fail (f16 and f32 work)`);
      }
      return info(ctx, `${shown} (takes effect at the next :load)`);
    }
  }
}

function requireArgs(args: string, usage: string): string {
  if (args === "") throw new CommandError(`usage: ${usage}`);
  return args;
}

function intIn(text: string | undefined, what: string, min: number, max: number): number {
  const v = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || v < min || v > max) throw new CommandError(`${what}: expected an integer from ${min} to ${max}, got '${text ?? ""}'`);
  return v;
}

function resolvePath(ctx: CommandContext, file: string): string {
  return path.resolve(ctx.cwd, file.replace(/^~(?=\/)/, process.env["HOME"] ?? "~"));
}

const HANDLERS: Record<string, (args: string, ctx: CommandContext) => void> = {
  help(_args, ctx) {
    const width = Math.max(...COMMANDS.map((c) => c.usage.length));
    info(ctx, [...COMMANDS.map((c) => `${c.usage.padEnd(width)}  ${c.summary}`), "", ...KEY_HELP,
      `settings: ${[...SETTINGS.keys()].join(", ")}`].join("\n"));
  },

  load(args, ctx) {
    const model = requireArgs(args, ":load MODEL (a GGUF file or a known name such as stories15M)");
    loadModel(ctx, model);
  },

  set(args, ctx) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(args);
    if (!m) throw new CommandError(`usage: :set KEY VALUE (keys: ${[...SETTINGS.keys()].join(", ")})`);
    set(ctx, m[1]!, m[2]!);
  },

  serve(args, ctx) {
    const what = requireArgs(args, ":serve PORT|off");
    if (what === "off") {
      ctx.link.send({ type: "serve", port: null });
      return;
    }
    if (!ctx.store.get().model && !ctx.store.get().loading) throw new CommandError("nothing to serve: load a model first (:load MODEL)");
    ctx.link.send({ type: "serve", port: intIn(what, "port", 1, 65535) });
  },

  show(_args, ctx) {
    ctx.store.dispatch({ type: "toggle-settings" });
  },

  batch(args, ctx) {
    if (args === "") {
      const s = ctx.store.get();
      const b = s.batching;
      info(ctx, b
        ? `batching: max-seqs ${b.maxSeqs} · max-batch-tokens ${b.maxBatchTokens} · max-wait-ms ${b.maxWaitMs}` +
          (s.stats ? ` · ${s.stats.running} running, ${s.stats.waiting} waiting, ${s.stats.preemptions} preemptions` : "")
        : `batching (applied when a model loads): ${["max-seqs", "max-batch-tokens", "max-wait-ms"].map((k) => `${k} ${formatSetting(s.config, k)}`).join(" · ")}`);
      return;
    }
    const words = splitArgs(args);
    if (words.length % 2 !== 0) throw new CommandError("usage: :batch [max-seqs N] [max-batch-tokens N] [max-wait-ms N]");
    let config = ctx.store.get().config;
    for (let i = 0; i < words.length; i += 2) {
      if (SETTINGS.get(words[i]!)?.group !== "batching") throw new CommandError(`:batch knows max-seqs, max-batch-tokens and max-wait-ms, not '${words[i]}'`);
      config = applySetting(config, words[i]!, words[i + 1]!);
    }
    for (let i = 0; i < words.length; i += 2) set(ctx, words[i]!, words[i + 1]!);
  },

  spec(args, ctx) {
    const [mode, k, ...rest] = splitArgs(requireArgs(args, ":spec ngram|draft|self:L|off [K]"));
    if (rest.length > 0) throw new CommandError("usage: :spec ngram|draft|self:L|off [K]");
    // Validate both before changing either, so a bad K leaves the mode as it was.
    applySetting(applySetting(ctx.store.get().config, "spec", mode!), "spec-k", k ?? "default");
    set(ctx, "spec", mode!);
    if (k !== undefined) ctx.store.dispatch({ type: "config", config: applySetting(ctx.store.get().config, "spec-k", k) });
  },

  "exit-early"(args, ctx) {
    set(ctx, "exit-early", requireArgs(args, ":exit-early L:T,L:T|off"));
  },

  parallel(args, ctx) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(requireArgs(args, ":parallel N [PROMPT]"));
    const n = intIn(m![1], ":parallel N", 1, 64);
    if (m![2] !== "") return ctx.runPrompt(m![2]!, n);
    set(ctx, "parallel", String(n));
  },

  chat(args, ctx) {
    if (args !== "on" && args !== "off") throw new CommandError("usage: :chat on|off");
    set(ctx, "chat", args);
    const model = ctx.store.get().model;
    if (args === "on" && model && !model.chatTemplate) warn(ctx, "the model has no chat template: chat cells will fail (:chat off)");
  },

  system(args, ctx) {
    set(ctx, "system", requireArgs(args, ":system TEXT (\\n for a new line; :system off removes it)"));
  },

  new(_args, ctx) {
    ctx.link.send({ type: "chat-reset" });
    ctx.store.dispatch({ type: "new-conversation" });
  },

  compare(args, ctx) {
    const words = splitArgs(args);
    if (words.length < 2 || words.length > 3) throw new CommandError("usage: :compare A B [PROMPTS-FILE] (A and B: recipe files, or 'current')");
    const s = ctx.store.get();
    const side = (w: string): CompareSide => (w === "current" ? { current: generateOptionsOf(s.config) } : { recipe: resolvePath(ctx, w) });
    let prompts: string[];
    if (words[2] !== undefined) {
      const file = resolvePath(ctx, words[2]);
      try {
        prompts = readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
      } catch (e) {
        throw new CommandError(`${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
      }
      if (prompts.length === 0) throw new CommandError(`${file}: no prompts (one per line)`);
    } else {
      const last = s.cells.at(-1)?.prompt;
      if (last === undefined) throw new CommandError(":compare needs a PROMPTS-FILE, or a prompt run before it");
      prompts = [last];
    }
    const id = ctx.nextId();
    const labels: [string, string] = [words[0]!, words[1]!];
    ctx.store.dispatch({ type: "start-job", job: { id, label: `compare ${labels.join(" and ")} on ${prompts.length} prompt${prompts.length === 1 ? "" : "s"}` } });
    ctx.link.send({ type: "compare", id, a: side(words[0]!), b: side(words[1]!), prompts, labels, width: process.stdout.columns || 100 });
  },

  keep(args, ctx) {
    if (/^[ab]$/i.test(args)) return keepCompared(ctx, args.toUpperCase() === "A" ? 0 : 1);
    if (args === "tuned") return keepTuned(ctx);
    const last = ctx.store.get().cells.findLast((c) => c.chat);
    if (!last || last.streams.length < 2) throw new CommandError(":keep K picks one of the answers of a chat turn run with :parallel N (there is none)");
    const k = intIn(args, ":keep K", 1, last.streams.length);
    ctx.link.send({ type: "chat-keep", index: k - 1 });
  },

  think(args, ctx) {
    if (!["show", "fold", "hide"].includes(args)) throw new CommandError("usage: :think show|fold|hide");
    set(ctx, "think", args);
  },

  bench(args, ctx) {
    const words = splitArgs(args);
    const o = { promptTokens: 64, genTokens: 32, repetitions: 1, parallel: [] as number[] };
    for (let i = 0; i < words.length; i += 2) {
      const flag = words[i]!, value = words[i + 1];
      if (flag === "-p") o.promptTokens = intIn(value, "-p", 0, 4096);
      else if (flag === "-n") o.genTokens = intIn(value, "-n", 0, 4096);
      else if (flag === "-r") o.repetitions = intIn(value, "-r", 1, 100);
      else if (flag === "--parallel") o.parallel = (value ?? "").split(",").map((v) => intIn(v, "--parallel", 1, 256));
      else throw new CommandError(`usage: :bench [-p N] [-n N] [-r N] [--parallel 1,4] (unknown '${flag}')`);
    }
    if (!ctx.store.get().model && !ctx.store.get().loading) throw new CommandError("no model is loaded (:load MODEL)");
    const id = ctx.nextId();
    const under = measuredUnder(ctx.store.get());
    ctx.store.dispatch({ type: "start-job", job: { id, label: `bench pp${o.promptTokens} tg${o.genTokens}`, ...(under !== undefined ? { measuredUnder: under } : {}) } });
    ctx.link.send({ type: "bench", id, ...o });
  },

  tune(args, ctx) {
    const s = ctx.store.get();
    if (s.tuning || s.jobs.some((j) => j.label.startsWith("tune "))) throw new CommandError("a :tune is running (Ctrl+C stops it)");
    const options = tuneRequest(args, s, (f) => resolvePath(ctx, f));
    const id = ctx.nextId();
    const under = measuredUnder(s);
    const what = options.target === "latency" ? "latency" : `${options.target} of ${options.streams} streams`;
    ctx.store.dispatch({ type: "start-job", job: { id, label: `tune ${what} on ${options.prompts.length} prompt${options.prompts.length === 1 ? "" : "s"}, budget ${Math.round(options.budgetMs / 1000)} s`, ...(under !== undefined ? { measuredUnder: under } : {}) } });
    ctx.link.send({ type: "tune", id, options });
  },

  ppl(args, ctx) {
    const words = splitArgs(requireArgs(args, ":ppl FILE [-c 128]"));
    const file = resolvePath(ctx, words[0]!);
    let c = 128;
    if (words.length === 3 && words[1] === "-c") c = intIn(words[2], "-c", 4, 1 << 16);
    else if (words.length !== 1) throw new CommandError("usage: :ppl FILE [-c 128]");
    if (!ctx.store.get().model && !ctx.store.get().loading) throw new CommandError("no model is loaded (:load MODEL)");
    const id = ctx.nextId();
    const s = ctx.store.get();
    const sha256 = s.model && !s.loading ? s.model.sha256 : undefined;
    ctx.store.dispatch({ type: "start-job", job: { id, label: `perplexity of ${path.basename(file)}`, ...(sha256 !== undefined ? { measuredUnder: sha256 } : {}) } });
    ctx.link.send({ type: "ppl", id, file, ctx: c });
  },

  save(args, ctx) {
    const file = resolvePath(ctx, requireArgs(args, ":save FILE"));
    const s = ctx.store.get();
    saveSession(file, {
      model: modelRef(s), config: s.config, cells: toSessionCells(s.cells), createdAt: s.createdAt,
      ...(s.conversation ? { chat: s.conversation as unknown as Record<string, ConfigValue> } : {}),
    });
    const turns = s.conversation ? s.conversation.messages.filter((m) => m.role === "user").length : 0;
    info(ctx, `saved ${s.cells.length} cell${s.cells.length === 1 ? "" : "s"}${turns > 0 ? `, the conversation (${turns} turn${turns === 1 ? "" : "s"})` : ""} and the settings to ${file}`);
  },

  open(args, ctx) {
    const file = resolvePath(ctx, requireArgs(args, ":open FILE"));
    const session = loadSession(file);
    const s = ctx.store.get();
    const cells = fromSessionCells(session.cells, (s.cells.at(-1)?.id ?? 0) + 1);
    const conversation = session.chat as unknown as SavedChat | undefined;
    ctx.store.dispatch({ type: "open-session", config: session.config as ReplConfig, cells, createdAt: session.createdAt, file, ...(conversation ? { conversation } : {}) });
    if (session.model && session.model.path !== s.model?.path) {
      info(ctx, `the session was made with ${session.model.path}: loading it`);
      loadModel(ctx, session.model.path);
    } else if (s.model) {
      ctx.link.send({ type: "configure", batching: batchingOf(session.config as ReplConfig) });
    }
    // After any load it started: the engine side handles requests in order.
    if (conversation) ctx.link.send({ type: "chat-load", saved: conversation });
    else ctx.link.send({ type: "chat-reset" });
  },

  export(args, ctx) {
    const [what, file, ...rest] = splitArgs(args);
    if (what !== "recipe" || !file || rest.length > 0) throw new CommandError("usage: :export recipe FILE.ts");
    if (!/\.[cm]?ts$/.test(file)) throw new CommandError(`a recipe is a TypeScript file: give a name ending in .ts, not '${file}'`);
    const s = ctx.store.get();
    if (!s.model) throw new CommandError("load a model first: a recipe names its model (:load MODEL)");
    const out = resolvePath(ctx, file);
    let source: string;
    try {
      source = sessionRecipe(s, out);
    } catch (e) {
      if (e instanceof RecipeError) throw new CommandError(`cannot export these settings as a recipe: ${e.message}`);
      throw e;
    }
    let links: string[];
    try {
      writeFileSync(out, source);
      links = prepareRecipeFolder(path.dirname(out));
    } catch (e) {
      throw new CommandError(`cannot write ${out}: ${(e as Error).message}`);
    }
    const made = links.length > 0 ? `; made ${links.join(", ")} beside it so that infer-repl resolves there` : "";
    info(ctx, `wrote the recipe ${out} (run it with: npx tsx ${file} "Once upon a time", or infer-repl run ${file})${made}`);
  },

  clear(_args, ctx) {
    ctx.store.dispatch({ type: "clear-cells" });
  },

  quit(_args, ctx) {
    ctx.quit();
  },
};

/** :keep A|B after :compare: the side's settings become the session's (its model is loaded if it differs). */
function keepCompared(ctx: CommandContext, side: 0 | 1): void {
  const s = ctx.store.get();
  if (!s.compared) throw new CommandError(":keep A|B adopts a side of the last :compare (there was none)");
  const label = s.compared.labels[side], adopt = s.compared.adopt[side];
  if (!adopt) return info(ctx, `${label} is the current settings: nothing changes`);
  const config: Record<string, ConfigValue> = { ...s.config };
  for (const key of RECIPE_KEYS) delete config[key];
  ctx.store.dispatch({ type: "config", config: { ...config, ...adopt.config } });
  info(ctx, `kept ${label}: ${Object.entries(adopt.config).map(([k, v]) => `${k} ${typeof v === "string" ? v : JSON.stringify(v)}`).join(" · ") || "default settings"}`);
  if (adopt.model && adopt.model !== s.model?.path) loadModel(ctx, adopt.model);
}

/** :keep tuned: the last :tune's best point becomes the session's configuration (the model reloads if it must). */
function keepTuned(ctx: CommandContext): void {
  const s = ctx.store.get();
  if (!s.tuned || !s.model) throw new CommandError(":keep tuned adopts the best configuration of the last :tune (there was none)");
  const best = s.tuned.result.best;
  const config = configWithPoint(s.config, best.point);
  ctx.store.dispatch({ type: "config", config });
  ctx.store.dispatch({ type: "tuned-adopted", measuredUnder: measuredUnder({ config, model: s.model, loading: null }) });
  info(ctx, `kept the tuned configuration: ${best.label}`);
  if (JSON.stringify(loadSettingsOf(config)) !== JSON.stringify(loadSettingsOf(s.config))) loadModel(ctx, s.model.path);
  else ctx.link.send({ type: "configure", batching: batchingOf(config) });
}

/** Starts loading a model with the load-time settings of the configuration. */
export function loadModel(ctx: Pick<CommandContext, "store" | "link">, model: string): void {
  const config = ctx.store.get().config;
  ctx.store.dispatch({ type: "start-load", model });
  ctx.link.send({ type: "load", model, settings: loadSettingsOf(config), batching: batchingOf(config) });
}

function modelRef(s: ReplState): { path: string; sha256?: string } | null {
  return s.model ? { path: s.model.path, sha256: s.model.sha256 } : null;
}
