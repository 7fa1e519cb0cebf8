// Pipe mode's batching: 20 prompts through `infer-repl --jsonl` at once against the same 20 one at a time
// (--max-seqs 1, same process, same model), alternating, median of the per-round speedups.
//   usage: npx tsx bench/pipe.ts [--rounds 5] [model.gguf]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { fmt, median, model, repoRoot } from "./lib.ts";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: "string", default: "5" } } });
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const prompts = Array.from({ length: 20 }, (_, i) => `Story ${i + 1}: once upon a time, a little`).join("\n") + "\n";

function timed(extra: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(repoRoot, "bin/infer-repl.mjs"), "-m", file, "-t", "2", "--temp", "0", "-n", "64", "--jsonl", ...extra], { input: prompts, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  if (r.stdout.trim().split("\n").length !== 20) throw new Error("expected 20 results");
  return performance.now() - t0;
}

const speedups: number[] = [];
for (let i = 0; i < Number(values.rounds); i++) {
  const batched = timed([]);
  const oneByOne = timed(["--max-seqs", "1"]);
  speedups.push(oneByOne / batched);
  console.log(`round ${i + 1}: batched ${fmt(batched, 0)} ms, one by one ${fmt(oneByOne, 0)} ms`);
}
console.log(`${file}: 20 prompts x 64 tokens, pipe mode batched vs one at a time: median speedup ${fmt(median(speedups), 2)}x`);
