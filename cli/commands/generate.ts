import type { Command } from "commander";
import type { ChatMessage } from "../../core/chat/index.ts";
import type { GenerationResult } from "../../core/generation.ts";
import { UsageError } from "../errors.ts";
import { log, readStdin, writeJson } from "../io.ts";
import {
  addEngineOptions, addGenerateOptions, engineOptions, generateOptions,
  type EngineFlags, type GenerateFlags,
} from "../options.ts";
import { resolveModelArg } from "../model-arg.ts";

interface Flags extends EngineFlags, GenerateFlags { prompt?: string; json?: boolean; chat?: boolean }

export function registerGenerate(program: Command): void {
  const cmd = program.command("generate").description("one generation; reads the prompt from stdin without -p");
  addGenerateOptions(addEngineOptions(cmd))
    .option("-p, --prompt <text>", "the prompt")
    .option("--json", "print a JSON object with text, tokens and stats")
    .option("--chat", "the prompt is a JSON array of {role, content} messages, rendered with the model's chat template")
    .action(async (flags: Flags) => {
      const input = flags.prompt ?? (await readStdin()).replace(/\n$/, "");
      if (input === "") throw new UsageError("no prompt: give -p TEXT or pipe it on stdin");
      let options = await generateOptions(flags);
      const { Engine } = await import("../../core/engine.ts");
      const engine = await Engine.load(engineOptions(flags, await resolveModelArg(flags.model)));
      let prompt = input;
      if (flags.chat) {
        const { chatPrompt } = await import("../../core/chat/index.ts");
        const chatted = await chatPrompt(engine, parseMessages(input));
        prompt = chatted.prompt;
        options = { ...options, ...chatted.options };
      }
      if (flags.json) {
        const r = await engine.generate(prompt, options);
        writeJson(generationJson(r));
        warnIfContextFull(r, engine.contextSize);
        return;
      }
      process.stdout.write(prompt);
      const stream = engine.stream(prompt, options);
      for await (const e of stream) process.stdout.write(e.text);
      process.stdout.write("\n");
      warnIfContextFull(await stream.result, engine.contextSize);
    });
}

/** A generation cut short by the context (finish reason "context") says so on stderr, naming the size. */
export function warnIfContextFull(r: GenerationResult, contextSize: number): void {
  if (r.finishReason !== "context") return;
  log(`infer-repl: warning: stopped after ${r.tokens.length} generated token${r.tokens.length === 1 ? "" : "s"}: the context is full ` +
    `(${contextSize} positions, ${r.promptTokens.length} of them the prompt); a larger -c/--ctx-size leaves room for more`);
}

/** `--chat` input: a JSON array of {role, content} string pairs. */
function parseMessages(text: string): ChatMessage[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError("--chat: the prompt must be a JSON array of {\"role\", \"content\"} messages");
  }
  const ok = Array.isArray(value) && value.length > 0 &&
    value.every((m) => typeof m === "object" && m !== null && typeof m.role === "string" && typeof m.content === "string");
  if (!ok) throw new UsageError("--chat: expected a non-empty JSON array of {\"role\": string, \"content\": string}");
  return value as ChatMessage[];
}

/** The `generate --json` shape of CLI.md. */
export function generationJson(r: GenerationResult): Record<string, unknown> {
  return {
    text: r.text,
    tokens: r.tokens,
    prompt_tokens: r.promptTokens,
    finish_reason: r.finishReason,
    stats: {
      ttft_ms: round(r.stats.ttftMs),
      total_ms: round(r.stats.totalMs),
      prefill_tokens_per_s: round(r.stats.prefillTokensPerS),
      decode_tokens_per_s: round(r.stats.decodeTokensPerS),
      preemptions: r.stats.preemptions,
      ...(r.stats.specTokensPerStep !== undefined && {
        spec_accept_rate: round(r.stats.specAcceptRate!),
        spec_tokens_per_step: round(r.stats.specTokensPerStep),
      }),
      ...(r.stats.earlyExitMeanLayers !== undefined && {
        early_exit_mean_layers: round(r.stats.earlyExitMeanLayers),
        early_exit_histogram: r.stats.earlyExitHistogram,
      }),
    },
  };
}

export function round(x: number): number {
  return Math.round(x * 100) / 100;
}
