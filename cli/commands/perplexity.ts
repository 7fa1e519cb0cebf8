import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { writeJson } from "../io.ts";
import { resolveModelArg } from "../model-arg.ts";
import { intArg } from "../options.ts";

interface Flags { model?: string; file: string; ctxSize: number; threads?: number; json?: boolean }

/** `infer-repl perplexity -m MODEL -f FILE [-c 128]`: llama-perplexity's figure, comparable with its numbers. */
export function registerPerplexity(program: Command): void {
  program
    .command("perplexity")
    .description("perplexity of a text file, llama.cpp's method (BOS-led chunks of -c tokens, second half of each scored)")
    .option("-m, --model <path>", "GGUF model file (or a known name such as stories15M)")
    .requiredOption("-f, --file <path>", "text file to score")
    .option("-c, --ctx-size <n>", "tokens per chunk (llama-perplexity's -c)", intArg(4, 1 << 16), 128)
    .option("-t, --threads <n>", "threads for the forward pass", intArg(1, 512))
    .option("--json", 'print {"model","ppl","chunks","tokens"}')
    .action(async (flags: Flags) => {
      const text = readText(flags.file); // before the model loads: a wrong path fails at once
      const model = await resolveModelArg(flags.model);
      const [{ Engine }, { perplexity }] = await Promise.all([import("../../core/engine.ts"), import("../../core/perplexity.ts")]);
      const engine = await Engine.load({ model, threads: flags.threads, contextSize: flags.ctxSize, arithmetic: "prompt" });
      try {
        const progress = process.stderr.isTTY
          ? (done: number, total: number, ppl: number) => process.stderr.write(`\r[${done}/${total}] ${ppl.toFixed(4)}${done === total ? "\n" : ""}`)
          : undefined;
        const r = await perplexity(engine, text, { contextSize: flags.ctxSize, onChunk: progress });
        if (flags.json) return writeJson({ model, ppl: r.ppl, chunks: r.chunks, tokens: r.tokensScored });
        process.stdout.write(`${model}\n  perplexity ${r.ppl.toFixed(4)} (${r.chunks} chunks of ${flags.ctxSize} tokens, ${r.tokensScored} tokens scored)\n`);
      } finally {
        engine.close();
      }
    });
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a folder, not a text file" : (e as Error).message;
    throw new UsageError(`cannot read the text file ${file}: ${why}`);
  }
}
