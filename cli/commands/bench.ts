import { InvalidArgumentError, type Command } from "commander";
import { writeJson } from "../io.ts";
import { addEngineOptions, intArg, engineOptions, type EngineFlags } from "../options.ts";
import { resolveModelArg } from "../model-arg.ts";
import { round } from "./generate.ts";

interface Flags extends EngineFlags { nPrompt: number; nGen: number; repetitions: number; parallel: number[]; json?: boolean }

function parallelList(text: string): number[] {
  const parts = text.split(",").map((s) => s.trim());
  const parse = intArg(1, 4096);
  try {
    return parts.map(parse);
  } catch (e) {
    throw new InvalidArgumentError(`expected a comma-separated list of sequence counts, e.g. 1,4,16: ${(e as Error).message}`);
  }
}

export function registerBench(program: Command): void {
  const cmd = program.command("bench").description("prefill and decode tokens/s, and aggregate decode with --parallel");
  addEngineOptions(cmd)
    .option("-p, --n-prompt <n>", "prompt tokens (prefill)", intArg(0, 1 << 16), 256)
    .option("-n, --n-gen <n>", "generated tokens (decode)", intArg(0, 1 << 16), 128)
    .option("-r, --repetitions <n>", "repetitions (mean reported)", intArg(1, 1000), 5)
    .option("--parallel <list>", "concurrent sequence counts, e.g. 1,4,16,32", parallelList, [])
    .option("--json", "print JSON")
    .action(async (flags: Flags) => {
      const model = await resolveModelArg(flags.model);
      // Unless -c says otherwise, the context holds the prompt, the generated tokens and the first one.
      const options = engineOptions(flags, model);
      options.contextSize ??= Math.max(flags.nPrompt, 1) + flags.nGen + 1;
      const [{ Engine }, { runBenchmark }] = await Promise.all([import("../../core/engine.ts"), import("../../core/benchmark.ts")]);
      const engine = await Engine.load(options);
      const r = await runBenchmark(engine, {
        promptTokens: flags.nPrompt, genTokens: flags.nGen, repetitions: flags.repetitions, parallel: flags.parallel,
      });
      const threads = flags.threads ?? null;
      if (flags.json) {
        writeJson({
          model, threads, pp: flags.nPrompt, tg: flags.nGen,
          pp_tokens_per_s: round(r.ppTokensPerS), tg_tokens_per_s: round(r.tgTokensPerS),
          parallel: r.parallel.map((p) => ({ n: p.n, tokens_per_s: round(p.tokensPerS) })),
        });
        return;
      }
      process.stdout.write(`${model}  threads ${threads ?? "all"}\n  pp${flags.nPrompt}: ${r.ppTokensPerS.toFixed(1)} t/s\n  tg${flags.nGen}: ${r.tgTokensPerS.toFixed(1)} t/s\n`);
      for (const p of r.parallel) process.stdout.write(`  parallel ${p.n}: ${p.tokensPerS.toFixed(1)} t/s aggregate decode\n`);
    });
}
