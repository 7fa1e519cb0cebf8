import { UsageError } from "../errors.ts";
import { readStdin, writeJson } from "../io.ts";
import { engineOptions, generateOptions, type EngineFlags, type GenerateFlags } from "../options.ts";
import { resolveModelArg } from "../model-arg.ts";
import { round, warnIfContextFull } from "./generate.ts";

export interface PipeFlags extends EngineFlags, GenerateFlags { jsonl?: boolean }

/**
 * Pipe mode: every stdin line is a prompt; all are submitted at once so the engine batches them, and the
 * results are printed in input order (plain: prompt + continuation, blocks separated by a blank line).
 */
export async function runPipe(modelArg: string | undefined, flags: PipeFlags): Promise<void> {
  const prompts = (await readStdin()).split(/\r?\n/).filter((l) => l.trim() !== "");
  if (prompts.length === 0) throw new UsageError("pipe mode: stdin had no prompts (one per line)");
  const options = await generateOptions(flags);
  const { Engine } = await import("../../core/engine.ts");
  const engine = await Engine.load(engineOptions(flags, await resolveModelArg(flags.model ?? modelArg)));
  const pending = prompts.map((prompt) => ({ prompt, result: engine.generate(prompt, options) }));
  for (const [i, { prompt, result }] of pending.entries()) {
    const r = await result;
    warnIfContextFull(r, engine.contextSize);
    if (flags.jsonl) {
      writeJson({
        prompt,
        text: r.text,
        tokens: r.tokens.length,
        prompt_tokens: r.promptTokens.length,
        finish_reason: r.finishReason,
        ms: round(r.stats.totalMs),
        tokens_per_s: round(r.stats.totalMs > 0 ? (r.tokens.length / r.stats.totalMs) * 1000 : 0),
      });
    } else {
      process.stdout.write((i > 0 ? "\n" : "") + prompt + r.text + "\n");
    }
  }
}
