import type { ConfigValue } from "../session/session-file.ts";
import type { GenerateOptions } from "../../core/generation.ts";
import { DEFAULT_BATCHING } from "../../core/engine.ts";
import type { BatchingOptions } from "../../core/scheduler/scheduler.ts";
import type { KvType } from "../../core/model/model.ts";
import { DEFAULT_SAMPLING } from "../../core/sampling/index.ts";
import { DEFAULT_NGRAM_K, DEFAULT_SPEC_K, MAX_SPEC_K, parseSpecMode, type SpeculativeOptions } from "../../core/speculative/options.ts";
import { parseEarlyExit, type ExitPoint } from "../../core/earlyexit/options.ts";
import { readConstraintFlags } from "../constraint-flags.ts";
import { CONTEXT_OVERFLOW_POLICIES, type ContextOverflowPolicy } from "../../core/chat/session.ts";

/**
 * The REPL's configuration: what `:set` changes, `:show` shows, `:save` stores and `:export recipe` writes.
 * Keys follow the CLI flags (llama.cpp's names); a key that is absent means "the default".
 */
export type ReplConfig = Readonly<Record<string, ConfigValue>>;

/** When a setting takes effect, so `:set` can say so instead of leaving the user guessing. */
export type SettingScope = "prompt" | "batching" | "load";

export interface SettingDef {
  readonly key: string;
  readonly group: "sampling" | "generation" | "chat" | "batching" | "engine" | "speculative" | "early exit";
  readonly scope: SettingScope;
  readonly help: string;
  /** Turns the text after the key into a value, or throws SettingError saying what was expected. */
  readonly parse: (text: string) => ConfigValue;
  /** What applies when the key is unset, for :show. */
  readonly fallback: string;
  /** Reset words (see RESET_WORDS) that are values of this setting instead ("off" for prefix-cache). */
  readonly literal?: readonly string[];
}

export class SettingError extends Error {
  override name = "SettingError";
}

function int(min: number, max: number) {
  return (text: string): number => {
    const v = Number(text);
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new SettingError(`expected an integer from ${min} to ${max}, got '${text}'`);
    }
    return v;
  };
}

function float(min: number, max: number, minExclusive = false) {
  return (text: string): number => {
    const v = Number(text);
    if (text === "" || !Number.isFinite(v) || v > max || (minExclusive ? v <= min : v < min)) {
      throw new SettingError(`expected a number ${minExclusive ? `above ${min}` : `from ${min}`} ${minExclusive ? "and at most" : "to"} ${max}, got '${text}'`);
    }
    return v;
  };
}

function choice(...options: string[]) {
  return (text: string): string => {
    if (!options.includes(text)) throw new SettingError(`expected one of ${options.join(", ")}, got '${text}'`);
    return text;
  };
}

function onOff(text: string): boolean {
  if (text === "on" || text === "true") return true;
  if (text === "off" || text === "false") return false;
  throw new SettingError(`expected on or off, got '${text}'`);
}

/** Stop strings: a JSON array (["\n\n", "The end"]) or one plain string with \n and \t escapes. */
function stopStrings(text: string): string[] {
  if (text.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new SettingError(`expected a JSON array of strings, e.g. ["\\n\\n", "The end"], got '${text}'`);
    }
    if (!Array.isArray(parsed) || parsed.some((s) => typeof s !== "string" || s === "")) {
      throw new SettingError("expected a JSON array of non-empty strings");
    }
    return parsed as string[];
  }
  return [unescape(text)];
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
}

/** Speculative decoding as the CLI's --spec names it: ngram, draft (with :set draft MODEL) or self:L. */
function specMode(text: string): string {
  if (text === "ngram" || text === "draft" || /^self:\d+$/.test(text)) return text;
  throw new SettingError(`expected ngram, draft or self:L (L a layer number), got '${text}'`);
}

/** Early exit as --early-exit names it: "L:T,L:T" (layer, confidence threshold). */
function earlyExitSpec(text: string): string {
  const parts = text.split(",");
  for (const p of parts) {
    const m = /^(\d+):(\d*\.?\d+)$/.exec(p.trim());
    if (!m || Number(m[2]) > 1) throw new SettingError(`expected "L:T,L:T" (layer:threshold, threshold in [0, 1]), got '${text}'`);
  }
  return parts.map((p) => p.trim()).join(",");
}

/** A grammar or JSON Schema file, checked now (readable, well-formed, enforceable); kept as its path. */
function constraintFile(kind: "grammar" | "jsonSchema") {
  return (text: string): string => {
    try {
      readConstraintFlags({ [kind]: text });
    } catch (e) {
      throw new SettingError((e as Error).message);
    }
    return text;
  };
}

const S = DEFAULT_SAMPLING;
const defs: SettingDef[] = [
  { key: "temp", group: "sampling", scope: "prompt", help: "temperature; 0 is greedy", parse: float(0, 100), fallback: String(S.temperature) },
  { key: "top-k", group: "sampling", scope: "prompt", help: "keep the k most likely tokens (0 = all)", parse: int(0, 1 << 24), fallback: String(S.topK) },
  { key: "top-p", group: "sampling", scope: "prompt", help: "nucleus sampling, in (0, 1]", parse: float(0, 1, true), fallback: String(S.topP) },
  { key: "min-p", group: "sampling", scope: "prompt", help: "drop tokens below p times the best", parse: float(0, 1), fallback: String(S.minP) },
  { key: "typical", group: "sampling", scope: "prompt", help: "locally typical sampling, in (0, 1]", parse: float(0, 1, true), fallback: String(S.typicalP) },
  { key: "repeat-penalty", group: "sampling", scope: "prompt", help: "penalty for repeated tokens (1 = off)", parse: float(0, 100, true), fallback: String(S.repeatPenalty) },
  { key: "repeat-last-n", group: "sampling", scope: "prompt", help: "window of the penalties", parse: int(0, 1 << 20), fallback: String(S.repeatLastN) },
  { key: "presence-penalty", group: "sampling", scope: "prompt", help: "presence penalty", parse: float(-100, 100), fallback: String(S.presencePenalty) },
  { key: "frequency-penalty", group: "sampling", scope: "prompt", help: "frequency penalty", parse: float(-100, 100), fallback: String(S.frequencyPenalty) },
  { key: "seed", group: "sampling", scope: "prompt", help: "random seed (stream i of :parallel uses seed+i)", parse: int(0, 2 ** 32 - 1), fallback: "random" },
  { key: "n-predict", group: "generation", scope: "prompt", help: "most tokens to generate", parse: int(1, 1 << 20), fallback: "128" },
  { key: "stop", group: "generation", scope: "prompt", help: 'stop strings: TEXT (\\n escapes) or a JSON array', parse: stopStrings, fallback: "none" },
  { key: "grammar", group: "generation", scope: "prompt", help: "constrain output to a GBNF grammar FILE", parse: constraintFile("grammar"), fallback: "none" },
  { key: "json-schema", group: "generation", scope: "prompt", help: "constrain output to JSON valid against a JSON Schema (FILE or JSON)", parse: constraintFile("jsonSchema"), fallback: "none" },
  { key: "parallel", group: "generation", scope: "prompt", help: "streams per prompt", parse: int(1, 64), fallback: "1" },
  { key: "max-seqs", group: "batching", scope: "batching", help: "most sequences in one step", parse: int(1, 4096), fallback: String(DEFAULT_BATCHING.maxSeqs) },
  { key: "max-batch-tokens", group: "batching", scope: "batching", help: "most tokens in one step", parse: int(1, 1 << 16), fallback: String(DEFAULT_BATCHING.maxBatchTokens) },
  { key: "max-wait-ms", group: "batching", scope: "batching", help: "wait this long to fill a batch", parse: int(0, 60_000), fallback: String(DEFAULT_BATCHING.maxWaitMs) },
  { key: "prefix-cache", group: "batching", scope: "batching", help: "reuse the KV of prompt prefixes computed before", parse: choice("on", "off"), fallback: DEFAULT_BATCHING.prefixCaching ? "on" : "off", literal: ["off"] },
  { key: "threads", group: "engine", scope: "load", help: "threads for the forward pass", parse: int(1, 512), fallback: "all cores" },
  { key: "ctx-size", group: "engine", scope: "load", help: "positions per sequence", parse: int(1, 1 << 20), fallback: "model's, at most 4096" },
  { key: "kv-block", group: "engine", scope: "load", help: "tokens per KV block", parse: int(1, 4096), fallback: "16" },
  { key: "kv-type", group: "engine", scope: "load", help: "KV element type", parse: choice("f16", "f32", "q8_0"), fallback: "f16" },
  { key: "spec", group: "speculative", scope: "prompt", help: "speculative decoding: ngram, draft or self:L", parse: specMode, fallback: "off" },
  { key: "spec-k", group: "speculative", scope: "prompt", help: "most tokens drafted per step", parse: int(1, MAX_SPEC_K), fallback: `${DEFAULT_SPEC_K}, ngram ${DEFAULT_NGRAM_K}` },
  { key: "draft", group: "speculative", scope: "load", help: "draft model for :spec draft (a GGUF file or a known name)", parse: (t) => t, fallback: "none" },
  { key: "exit-early", group: "early exit", scope: "prompt", help: 'early exit: "L:T,L:T"', parse: earlyExitSpec, fallback: "off" },
  { key: "chat", group: "chat", scope: "prompt", help: "chat mode: a cell is a user turn (on/off)", parse: onOff, fallback: "on when the model has a chat template", literal: ["off"] },
  { key: "system", group: "chat", scope: "prompt", help: "the system prompt of chat mode", parse: unescape, fallback: "none" },
  { key: "think", group: "chat", scope: "prompt", help: "a reasoning model's thinking: show, fold (to one line when done) or hide", parse: choice("show", "fold", "hide"), fallback: "fold" },
  { key: "enable-thinking", group: "chat", scope: "prompt", help: "the template's enable_thinking switch (on/off)", parse: onOff, fallback: "the template's", literal: ["off"] },
  { key: "context-overflow", group: "chat", scope: "prompt", help: "a conversation that outgrows the context: error, shift or truncate-middle", parse: choice(...CONTEXT_OVERFLOW_POLICIES), fallback: "error" },
];

export const SETTINGS: ReadonlyMap<string, SettingDef> = new Map(defs.map((d) => [d.key, d]));

/** Words that put a setting back to its default. */
const RESET_WORDS = new Set(["default", "off", "none", "unset"]);

/**
 * Applies `:set KEY VALUE` to a configuration, returning the new one; throws SettingError naming the key and what
 * was expected. A reset word (default/off/none) removes the key.
 */
export function applySetting(config: ReplConfig, key: string, text: string): ReplConfig {
  const def = SETTINGS.get(key);
  if (!def) throw new SettingError(`unknown setting '${key}' (known: ${[...SETTINGS.keys()].join(", ")})`);
  const value = text.trim();
  if (value === "") throw new SettingError(`:set ${key} needs a value (${def.help}; 'default' resets it)`);
  const next = { ...config };
  // One constraint at a time: setting one replaces the other.
  if (key === "grammar") delete next["json-schema"];
  if (key === "json-schema") delete next["grammar"];
  if (RESET_WORDS.has(value) && !def.literal?.includes(value)) {
    delete next[key];
    return next;
  }
  try {
    next[key] = def.parse(value);
  } catch (e) {
    throw new SettingError(`${key}: ${(e as Error).message}`);
  }
  return next;
}

/** How a value reads in :show and the settings panel. */
export function formatSetting(config: ReplConfig, key: string): string {
  const v = config[key];
  if (v === undefined) return `${SETTINGS.get(key)?.fallback ?? "default"} (default)`;
  return typeof v === "string" ? v : JSON.stringify(v);
}

function num(config: ReplConfig, key: string): number | undefined {
  const v = config[key];
  return typeof v === "number" ? v : undefined;
}

export const SAMPLING_KEYS: [string, keyof GenerateOptions][] = [
  ["temp", "temperature"], ["top-k", "topK"], ["top-p", "topP"], ["min-p", "minP"], ["typical", "typicalP"],
  ["repeat-penalty", "repeatPenalty"], ["repeat-last-n", "repeatLastN"], ["presence-penalty", "presencePenalty"],
  ["frequency-penalty", "frequencyPenalty"], ["seed", "seed"],
];

/** The options one prompt is generated with; `stream` offsets the seed so :parallel streams differ. */
export function generateOptionsOf(config: ReplConfig, stream = 0): GenerateOptions {
  const o: GenerateOptions = { maxTokens: num(config, "n-predict") ?? 128 };
  for (const [key, field] of SAMPLING_KEYS) {
    const v = num(config, key);
    if (v !== undefined) (o as Record<string, unknown>)[field] = v;
  }
  if (o.seed !== undefined) o.seed = (o.seed + stream) % 2 ** 32;
  const stop = config["stop"];
  if (Array.isArray(stop)) o.stop = stop as string[];
  const spec = config["spec"];
  if (typeof spec === "string") {
    const k = num(config, "spec-k");
    o.speculative = k === undefined ? parseSpecMode(spec) : { ...parseSpecMode(spec), k };
  }
  const exit = config["exit-early"];
  if (typeof exit === "string") o.earlyExit = parseEarlyExit(exit);
  // Read for every prompt, so an edited file applies from the next one.
  const grammar = config["grammar"], schema = config["json-schema"];
  Object.assign(o, readConstraintFlags({
    grammar: typeof grammar === "string" ? grammar : undefined,
    jsonSchema: typeof schema === "string" ? schema : undefined,
  }));
  return o;
}

export function batchingOf(config: ReplConfig): Partial<BatchingOptions> {
  const out: Partial<BatchingOptions> = {};
  const m = num(config, "max-seqs"), b = num(config, "max-batch-tokens"), w = num(config, "max-wait-ms");
  if (m !== undefined) out.maxSeqs = m;
  if (b !== undefined) out.maxBatchTokens = b;
  if (w !== undefined) out.maxWaitMs = w;
  const prefixCache = config["prefix-cache"];
  if (prefixCache !== undefined) out.prefixCaching = prefixCache === "on";
  return out;
}

/** Options that only apply when a model is loaded. */
export interface LoadSettings {
  threads?: number;
  ctxSize?: number;
  kvBlock?: number;
  kvType?: KvType;
  /** The draft model for speculative decoding, as given (a path or a known name; the engine side resolves it). */
  draft?: string;
}

export function loadSettingsOf(config: ReplConfig): LoadSettings {
  const kvType = config["kv-type"];
  const draft = config["draft"];
  return {
    draft: typeof draft === "string" ? draft : undefined,
    threads: num(config, "threads"),
    ctxSize: num(config, "ctx-size"),
    kvBlock: num(config, "kv-block"),
    kvType: kvType === "f16" || kvType === "f32" || kvType === "q8_0" ? kvType : undefined,
  };
}

/** What a chat turn needs from the configuration besides the generation options. */
export interface ChatSettings {
  system?: string;
  enableThinking?: boolean;
  contextOverflow: ContextOverflowPolicy;
}

export function chatSettingsOf(config: ReplConfig): ChatSettings {
  const system = config["system"], thinking = config["enable-thinking"], overflow = config["context-overflow"];
  return {
    ...(typeof system === "string" ? { system } : {}),
    ...(typeof thinking === "boolean" ? { enableThinking: thinking } : {}),
    contextOverflow: (CONTEXT_OVERFLOW_POLICIES as readonly unknown[]).includes(overflow) ? overflow as ContextOverflowPolicy : "error",
  };
}

/** Chat mode: as set, else on exactly when the loaded model has a chat template. */
export function chatModeOf(config: ReplConfig, modelHasTemplate: boolean): boolean {
  const v = config["chat"];
  return typeof v === "boolean" ? v : modelHasTemplate;
}

export type ThinkDisplay = "show" | "fold" | "hide";

export function thinkDisplayOf(config: ReplConfig): ThinkDisplay {
  const v = config["think"];
  return v === "show" || v === "hide" ? v : "fold";
}

export function parallelOf(config: ReplConfig): number {
  return num(config, "parallel") ?? 1;
}

/** The flags the REPL was started with, as a configuration (the same keys :set uses). */
export function configFromFlags(flags: Record<string, unknown>): ReplConfig {
  const byFlag: [string, string][] = [
    ["temp", "temp"], ["topK", "top-k"], ["topP", "top-p"], ["minP", "min-p"], ["typical", "typical"],
    ["repeatPenalty", "repeat-penalty"], ["repeatLastN", "repeat-last-n"], ["presencePenalty", "presence-penalty"],
    ["frequencyPenalty", "frequency-penalty"], ["seed", "seed"], ["nPredict", "n-predict"], ["stop", "stop"],
    ["maxSeqs", "max-seqs"], ["maxBatchTokens", "max-batch-tokens"], ["maxWaitMs", "max-wait-ms"],
    ["threads", "threads"], ["ctxSize", "ctx-size"], ["kvBlock", "kv-block"], ["kvType", "kv-type"],
    ["draft", "draft"], ["specK", "spec-k"], ["grammar", "grammar"], ["jsonSchema", "json-schema"],
  ];
  const config: Record<string, ConfigValue> = {};
  for (const [flag, key] of byFlag) {
    const v = flags[flag];
    if (typeof v === "number" || typeof v === "string" || Array.isArray(v)) config[key] = v as ConfigValue;
  }
  // --spec and --early-exit arrive parsed; the REPL keeps them as the text :spec and :exit-early take.
  const spec = flags["spec"] as Pick<SpeculativeOptions, "mode" | "layers"> | undefined;
  if (spec) config["spec"] = spec.mode === "self" ? `self:${spec.layers}` : spec.mode;
  else if (typeof flags["draft"] === "string") config["spec"] = "draft"; // as on the command line, --draft alone means --spec draft
  if (flags["prefixCache"] === false) config["prefix-cache"] = "off";
  const exit = flags["earlyExit"] as ExitPoint[] | undefined;
  if (exit) config["exit-early"] = exit.map((p) => `${p.layer}:${p.threshold}`).join(",");
  // Commander fills these with their defaults; they are only "set" when they differ from them.
  if (config["kv-block"] === 16) delete config["kv-block"];
  if (config["kv-type"] === "f16") delete config["kv-type"];
  if (config["n-predict"] === 128) delete config["n-predict"];
  return config;
}
