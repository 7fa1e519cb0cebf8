// Auto-tuning end to end: runs `infer-repl tune` on a model (a fresh process, the given target and budget) and
// exports the chosen configuration as a recipe, then runs the recipe against the default configuration (the
// engine's defaults: all cores, max-seqs 32, max-batch-tokens 512, f16 KV in blocks of 16) on the same workload in
// alternating rounds, each side in a fresh process (A B B A ...). Throughput: aggregate tokens/s of --streams
// concurrent greedy streams of -n tokens; latency: TTFT and per-token latency of one stream. Each process warms
// up once and reports the median of --reps runs; the ratio is the median of the per-round ratios.
//   usage: npx tsx bench/tune.ts [--target throughput|latency] [--streams 32] [--budget 120] [--rounds 5]
//          [--reps 3] [-n 64] [--recipe FILE (skip the tune)] [model.gguf]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { DEFAULT_TUNE_PROMPTS } from "../cli/commands/tune.ts";
import { Engine } from "../core/engine.ts";
import { isRecipe } from "../core/recipe.ts";
import { median, runWorkload, type WorkloadFigures } from "../core/tune/measure.ts";
import { fmt, model, repoRoot, run } from "./lib.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    target: { type: "string", default: "throughput" },
    streams: { type: "string", default: "32" },
    budget: { type: "string", default: "120" },
    rounds: { type: "string", default: "5" },
    reps: { type: "string", default: "3" },
    n: { type: "string", short: "n", default: "64" },
    recipe: { type: "string" },
    // Internal: one side's measurement, in its own process.
    measure: { type: "string" },
  },
});
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const streams = values.target === "latency" ? 1 : Number(values.streams);
const genTokens = Number(values.n), reps = Number(values.reps);

if (values.measure !== undefined) {
  // One side: "default" (the engine's defaults) or a recipe file; prints its median figures as JSON.
  let engine: Engine, request = {};
  if (values.measure === "default") {
    engine = await Engine.load({ model: file });
  } else {
    const { enableRecipeImports } = await import("../cli/recipe-imports.ts");
    await enableRecipeImports();
    const recipe = ((await import(pathToFileURL(path.resolve(values.measure)).href)) as { default?: unknown }).default;
    if (!isRecipe(recipe)) throw new Error(`${values.measure}: not a recipe`);
    engine = await recipe.engine();
    const { speculative, earlyExit } = recipe.requestDefaults;
    request = { ...(speculative ? { speculative } : {}), ...(earlyExit ? { earlyExit } : {}) };
  }
  const prompts = DEFAULT_TUNE_PROMPTS.map((p) => engine.tokenize(p));
  const w = { prompts, streams, genTokens, request };
  await runWorkload(engine, { ...w, genTokens: 4 });
  const runs: WorkloadFigures[] = [];
  for (let i = 0; i < reps; i++) runs.push(await runWorkload(engine, w));
  const m = (f: (x: WorkloadFigures) => number) => median(runs.map(f));
  console.log(JSON.stringify({ tokensPerS: m((x) => x.tokensPerS), ttftMs: m((x) => x.ttftMs), msPerToken: m((x) => x.msPerToken), p99Ms: m((x) => x.p99Ms) }));
  engine.close();
  process.exit(0);
}

const cli = path.join(repoRoot, "bin/infer-repl.mjs");
let recipeFile = values.recipe;
if (recipeFile === undefined) {
  recipeFile = path.join(mkdtempSync(path.join(tmpdir(), "bench-tune-")), "tuned.ts");
  const t0 = performance.now();
  const out = run(process.execPath, [cli, "tune", "-m", file, "--target", values.target!, "--streams", String(streams), "--budget", values.budget!, "-o", recipeFile]);
  console.log(out.trimEnd());
  console.log(`tune took ${fmt((performance.now() - t0) / 1000)} s wall (budget ${values.budget} s, plus process start and model load)\n`);
}

const measure = (side: string) => JSON.parse(run(process.execPath, ["--import", "tsx", path.join(repoRoot, "bench/tune.ts"), "--measure", side, "--target", values.target!, "--streams", String(streams), "-n", String(genTokens), "--reps", String(reps), file])) as Omit<WorkloadFigures, "wallMs">;
const ratios: { tps: number; ttft: number; tpot: number }[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  // A B, then B A: the order alternates so a drift in the machine's speed does not favour one side.
  const [first, second] = r % 2 ? [recipeFile, "default"] : ["default", recipeFile];
  const a = measure(first), b = measure(second);
  const [def, tuned] = r % 2 ? [b, a] : [a, b];
  ratios.push({ tps: tuned.tokensPerS / def.tokensPerS, ttft: tuned.ttftMs / def.ttftMs, tpot: tuned.msPerToken / def.msPerToken });
  console.log(`round ${r + 1}: tuned ${fmt(tuned.tokensPerS)} t/s, TTFT ${fmt(tuned.ttftMs)} ms, ${fmt(tuned.msPerToken, 2)} ms/token   default ${fmt(def.tokensPerS)} t/s, TTFT ${fmt(def.ttftMs)} ms, ${fmt(def.msPerToken, 2)} ms/token   ratio ${fmt(ratios.at(-1)!.tps, 3)}x`);
}
console.log(`\n${path.basename(file)}, ${values.target}, ${streams} stream${streams === 1 ? "" : "s"} x ${genTokens} tokens, ${values.rounds} alternating rounds (fresh processes), recipe ${recipeFile}`);
console.log(`  tuned / default tokens/s     ${fmt(median(ratios.map((x) => x.tps)), 3)}x (per round: ${ratios.map((x) => fmt(x.tps, 3)).join(", ")})`);
console.log(`  tuned / default TTFT         ${fmt(median(ratios.map((x) => x.ttft)), 3)}x (lower is better)`);
console.log(`  tuned / default ms per token ${fmt(median(ratios.map((x) => x.tpot)), 3)}x (lower is better)`);
