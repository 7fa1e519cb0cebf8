import { InvalidArgumentError, Option, type Command } from "commander";
import type { EngineOptions } from "../core/engine.ts";
import type { GenerateOptions } from "../core/generation.ts";
import { parseEarlyExit, type ExitPoint } from "../core/earlyexit/options.ts";
import { DEFAULT_NGRAM_K, DEFAULT_SPEC_K, MAX_SPEC_K, parseSpecMode, type SpeculativeOptions } from "../core/speculative/options.ts";
import { UsageError } from "./errors.ts";

/** Parsers that turn a flag's text into a checked number, or say which flag was wrong and why. */
export function intArg(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const v = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got '${text}'`);
    }
    return v;
  };
}

/** A number in [min, max], or in (min, max] with `aboveMin` (top-p 0 keeps no token: the sampler refuses it). */
export function floatArg(min: number, max: number, aboveMin = false) {
  return (text: string): number => {
    const v = Number(text);
    if (text.trim() === "" || !Number.isFinite(v) || v > max || (aboveMin ? v <= min : v < min)) {
      throw new InvalidArgumentError(`expected a number ${aboveMin ? `above ${min} and at most` : `from ${min} to`} ${max}, got '${text}'`);
    }
    return v;
  };
}

function specModeArg(text: string): Pick<SpeculativeOptions, "mode" | "layers"> {
  try {
    return parseSpecMode(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function earlyExitArg(text: string): ExitPoint[] {
  try {
    return parseEarlyExit(text);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Options for loading the engine, shared by every command that runs a model (names follow llama.cpp). */
export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option("-m, --model <path>", "GGUF model file")
    .option("-t, --threads <n>", "threads for the forward pass", intArg(1, 512))
    .option("-c, --ctx-size <n>", "context size (positions per sequence)", intArg(1, 1 << 20))
    .option("--kv-block <n>", "tokens per KV block", intArg(1, 4096), 16)
    .addOption(new Option("--kv-type <type>", "KV cache element type").choices(["f16", "f32", "q8_0"]).default("f16"))
    .option("--max-seqs <n>", "most sequences in one step", intArg(1, 4096))
    .option("--max-batch-tokens <n>", "most tokens in one step", intArg(1, 1 << 16))
    .option("--max-wait-ms <n>", "wait this long to fill a batch", intArg(0, 60_000))
    .option("--no-prefix-cache", "do not reuse the KV of prompt prefixes computed before")
    .option("--draft <path>", "draft model for speculative decoding (same vocabulary as the model)")
    .option("--threads-draft <n>", "threads the draft model drafts with (default: 1 for a draft under 64 MiB, else all)", intArg(1, 512))
    .option("--no-draft-ahead", "do not draft a lone sequence's next drafts while a step's result is handled")
    .option("--exit-head <n>", "early exit tests confidence on the head rows of the n most frequent tokens (0 = full head)", intArg(0, 1 << 24));
}

/** Sampling and stopping options (llama.cpp's names). */
export function addGenerateOptions(cmd: Command): Command {
  return cmd
    .option("-n, --n-predict <n>", "tokens to generate", intArg(1, 1 << 20), 128)
    .option("--temp <t>", "temperature; 0 is greedy", floatArg(0, 100))
    .option("--top-k <k>", "keep the k most likely tokens (0 = all)", intArg(0, 1 << 24))
    // The ranges are the sampler's (core/sampling/options.ts), so a bad value fails here, before a model loads.
    .option("--top-p <p>", "nucleus sampling, in (0, 1]", floatArg(0, 1, true))
    .option("--min-p <p>", "drop tokens less likely than p times the best", floatArg(0, 1))
    .option("--typical <p>", "locally typical sampling, in (0, 1]", floatArg(0, 1, true))
    .option("--repeat-penalty <x>", "penalty for repeated tokens (1 = off)", floatArg(0, 100, true))
    .option("--repeat-last-n <n>", "window of the repeat penalty", intArg(0, 1 << 20))
    .option("--presence-penalty <x>", "presence penalty", floatArg(-100, 100))
    .option("--frequency-penalty <x>", "frequency penalty", floatArg(-100, 100))
    .option("-s, --seed <n>", "random seed", intArg(0, 2 ** 32 - 1))
    .option("--stop <text>", "stop before this text (repeatable)", collect)
    .option("--spec <mode>", "speculative decoding: ngram, draft (needs --draft) or self:LAYERS", specModeArg)
    .option("--spec-k <k>", `most draft tokens per step (default ${DEFAULT_SPEC_K}, ngram ${DEFAULT_NGRAM_K})`, intArg(1, MAX_SPEC_K))
    .option("--early-exit <list>", 'exit after layer L when the top token is at least T likely: "L:T,L:T"', earlyExitArg)
    .option("--no-bos", "do not add the BOS token")
    .option("--grammar <file>", "constrain the output to a GBNF grammar (llama.cpp's format)")
    .option("--json-schema <file|json>", "constrain the output to JSON valid against this JSON Schema (a file or the JSON itself)");
}

export interface EngineFlags {
  model?: string; threads?: number; ctxSize?: number; kvBlock: number; kvType: "f16" | "f32" | "q8_0";
  maxSeqs?: number; maxBatchTokens?: number; maxWaitMs?: number; prefixCache?: boolean; draft?: string; threadsDraft?: number;
  draftAhead?: boolean; exitHead?: number;
}

export interface GenerateFlags {
  nPredict: number; temp?: number; topK?: number; topP?: number; minP?: number; typical?: number;
  repeatPenalty?: number; repeatLastN?: number; presencePenalty?: number; frequencyPenalty?: number;
  seed?: number; stop?: string[]; bos: boolean;
  spec?: Pick<SpeculativeOptions, "mode" | "layers">; specK?: number; earlyExit?: ExitPoint[];
  grammar?: string; jsonSchema?: string;
}

export function engineOptions(flags: EngineFlags, model: string): EngineOptions {
  return {
    model,
    threads: flags.threads,
    contextSize: flags.ctxSize,
    kvBlockSize: flags.kvBlock,
    kvType: flags.kvType,
    maxSeqs: flags.maxSeqs,
    maxBatchTokens: flags.maxBatchTokens,
    maxWaitMs: flags.maxWaitMs,
    prefixCaching: flags.prefixCache,
    draftModel: flags.draft,
    draftThreads: flags.threadsDraft,
    draftAhead: flags.draftAhead,
    earlyExitHead: flags.exitHead,
  };
}

/**
 * `--draft` alone means `--spec draft`. Async because the grammar and JSON Schema checks load their parsers only
 * when a command runs: `--help` and every other command start without them.
 */
export async function generateOptions(flags: GenerateFlags & { draft?: string }): Promise<GenerateOptions> {
  const o: GenerateOptions = { maxTokens: flags.nPredict, stop: flags.stop, addSpecial: flags.bos };
  const spec = flags.spec ?? (flags.draft !== undefined ? { mode: "draft" as const } : undefined);
  if (spec) o.speculative = { ...spec, k: flags.specK };
  else if (flags.specK !== undefined) throw new UsageError("--spec-k needs --spec (or --draft)");
  if (flags.earlyExit) o.earlyExit = flags.earlyExit;
  if (flags.grammar !== undefined || flags.jsonSchema !== undefined) {
    const { readConstraintFlags } = await import("./constraint-flags.ts");
    Object.assign(o, readConstraintFlags(flags));
  }
  const sampling: [keyof GenerateOptions, number | undefined][] = [
    ["temperature", flags.temp], ["topK", flags.topK], ["topP", flags.topP], ["minP", flags.minP],
    ["typicalP", flags.typical], ["repeatPenalty", flags.repeatPenalty], ["repeatLastN", flags.repeatLastN],
    ["presencePenalty", flags.presencePenalty], ["frequencyPenalty", flags.frequencyPenalty], ["seed", flags.seed],
  ];
  for (const [key, value] of sampling) if (value !== undefined) (o as Record<string, unknown>)[key] = value;
  return o;
}
