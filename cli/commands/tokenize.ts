import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { readStdin, readStdinBytes, writeJson } from "../io.ts";
import { resolveModelArg } from "../model-arg.ts";

export function registerTokenize(program: Command): void {
  program
    .command("tokenize")
    .description("stdin text -> JSON array of token ids on stdout")
    .option("-m, --model <path>", "GGUF model (a vocab-only file works)")
    .option("--no-bos", "do not add BOS/EOS")
    .option("--parse-special", "turn special-token text into their ids")
    .action(async (flags: { model?: string; bos: boolean; parseSpecial?: boolean }) => {
      const tokenizer = await modelTokenizer(flags.model);
      const bytes = await readStdinBytes();
      const text = decodeUtf8(bytes);
      writeJson(Array.from(tokenizer.encode(text, { addSpecial: flags.bos, parseSpecial: flags.parseSpecial ?? false })));
    });

  program
    .command("detokenize")
    .description("stdin JSON array of ids -> text")
    .option("-m, --model <path>", "GGUF model (a vocab-only file works)")
    .action(async (flags: { model?: string }) => {
      const tokenizer = await modelTokenizer(flags.model);
      let ids: unknown;
      try {
        ids = JSON.parse(await readStdin());
      } catch {
        throw new UsageError("detokenize: stdin must be a JSON array of token ids");
      }
      if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x))) {
        throw new UsageError("detokenize: stdin must be a JSON array of integer token ids");
      }
      process.stdout.write(tokenizer.decode(ids as number[]));
    });
}

/** The tokenizer of the -m model (loaded on use: the CLI starts without the tokenizer's modules). */
async function modelTokenizer(model: string | undefined) {
  const [{ readGguf }, { loadTokenizer }] = await Promise.all([import("../../core/gguf/index.ts"), import("../../core/tokenizer/index.ts")]);
  return loadTokenizer(readGguf(await resolveModelArg(model)));
}

function decodeUtf8(bytes: Buffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError("tokenize: stdin is not valid UTF-8");
  }
}
