// Pipe mode's batching: 20 prompts through `infer-repl --jsonl` at once against the same 20 one at a time
// (--max-seqs 1, same process, same model), alternating, median of the per-round speedups. Each round also times
// the fixed cost of a run (process start, model load: one prompt, one token), so the report gives the
// generation throughput ratio (time minus that cost) beside the whole-process one.
//   usage: npx tsx bench/pipe.ts [--rounds 5] [model.gguf]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { fmt, median, model, repoRoot } from "./lib.ts";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: "string", default: "5" } } });
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const prompts = Array.from({ length: 20 }, (_, i) => `Story ${i + 1}: once upon a time, a little`).join("\n") + "\n";

function timed(input: string, extra: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(repoRoot, "bin/infer-repl.mjs"), "-m", file, "-t", "2", "--temp", "0", "--jsonl", ...extra], { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  if (r.stdout.trim().split("\n").length !== input.trim().split("\n").length) throw new Error("expected one result per prompt");
  return performance.now() - t0;
}

const whole: number[] = [], generation: number[] = [];
for (let i = 0; i < Number(values.rounds); i++) {
  const fixed = timed("Once\n", ["-n", "1"]);
  const batched = timed(prompts, ["-n", "64"]);
  const oneByOne = timed(prompts, ["-n", "64", "--max-seqs", "1"]);
  whole.push(oneByOne / batched);
  generation.push((oneByOne - fixed) / (batched - fixed));
  console.log(`round ${i + 1}: batched ${fmt(batched, 0)} ms, one by one ${fmt(oneByOne, 0)} ms, fixed cost ${fmt(fixed, 0)} ms`);
}
console.log(`${file}: 20 prompts x 64 tokens, pipe mode batched vs one at a time (medians of ${values.rounds} rounds):`);
console.log(`  generation throughput ${fmt(median(generation), 2)}x   whole process ${fmt(median(whole), 2)}x`);
