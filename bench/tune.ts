// Auto-tuning end to end: runs `infer-repl tune` on a model (a fresh process, the given target and budget) and
// exports the chosen configuration as a recipe, then runs the recipe against the default configuration (the
// engine's defaults: all cores, max-seqs 32, max-batch-tokens 512, f16 KV in blocks of 16) on the same workload.
// Throughput: aggregate tokens/s of --streams concurrent greedy streams of -n tokens; latency: TTFT and per-token
// latency of one stream.
//
// On this shared machine two runs of the same configuration seconds apart differ by ±10-20%, and runs in separate
// processes are further apart in time, so each of --rounds fresh processes loads both configurations (which one
// first alternates) and alternates runs of them, --pairs times (D T T D D T ...), each run paired with the other
// side's run next to it. The figure is the median of all pairs' ratios, with its 95% confidence interval (order
// statistics of the pairs: no assumption on the noise's shape) and the quartiles; per-process medians show whether
// a process (its memory layout, its load) stood apart. `--recipe default` measures the defaults against themselves: the noise floor.
//   usage: npx tsx bench/tune.ts [--target throughput|latency] [--streams 32] [--budget 120] [--rounds 3]
//          [--pairs 16] [-n 16] [--recipe FILE|default (skip the tune)] [model.gguf]
import { mkdtempSync, readFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { DEFAULT_TUNE_PROMPTS } from "../cli/commands/tune.ts";
import { Engine } from "../core/engine.ts";
import { native } from "../core/native.ts";
import { isRecipe } from "../core/recipe.ts";
import type { GenerateOptions } from "../core/generation.ts";
import { median, runWorkload, type WorkloadFigures } from "../core/tune/measure.ts";
import { score as tuneScore } from "../core/tune/search.ts";
import type { TuneTarget } from "../core/tune/space.ts";
import { fmt, model, repoRoot, run } from "./lib.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    target: { type: "string", default: "throughput" },
    streams: { type: "string", default: "32" },
    budget: { type: "string", default: "120" },
    rounds: { type: "string", default: "3" },
    pairs: { type: "string", default: "16" },
    n: { type: "string", short: "n", default: "16" },
    recipe: { type: "string" },
    // Internal: one fresh process's alternating runs of the defaults and the given recipe.
    measure: { type: "string" },
    "load-tuned-first": { type: "boolean", default: false },
  },
});
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const streams = values.target === "latency" ? 1 : Number(values.streams);
const genTokens = Number(values.n), pairs = Number(values.pairs);

interface Side { engine: Engine; threads: number; request: Pick<GenerateOptions, "speculative" | "earlyExit"> }
type Pair = { def: WorkloadFigures; tuned: WorkloadFigures };

/** The engine's defaults, or a recipe's engine and request speed-ups ("default" names the defaults). */
async function loadSide(which: string): Promise<Side> {
  // Threads are process-global in the native addon: each side's are set before each of its runs.
  if (which === "default") return { engine: await Engine.load({ model: file }), threads: availableParallelism(), request: {} };
  const { enableRecipeImports } = await import("../cli/recipe-imports.ts");
  await enableRecipeImports();
  const recipe = ((await import(pathToFileURL(path.resolve(which)).href)) as { default?: unknown }).default;
  if (!isRecipe(recipe)) throw new Error(`${which}: not a recipe`);
  const { speculative, earlyExit } = recipe.requestDefaults;
  return {
    engine: await recipe.engine(), threads: recipe.config.threads ?? availableParallelism(),
    request: { ...(speculative ? { speculative } : {}), ...(earlyExit ? { earlyExit } : {}) },
  };
}

if (values.measure !== undefined) {
  // The load order alternates from process to process: the defaults against themselves read 0.95-0.98x in three
  // runs with the second-loaded side always the "tuned" one, which may be its memory's placement, not noise.
  const [def, tuned] = values["load-tuned-first"]
    ? await loadSide(values.measure).then(async (t) => [await loadSide("default"), t])
    : await loadSide("default").then(async (d) => [d, await loadSide(values.measure!)]);
  const once = async (s: Side, n: number) => {
    native.setThreads(s.threads);
    return runWorkload(s.engine, { prompts: DEFAULT_TUNE_PROMPTS.map((p) => s.engine.tokenize(p)), streams, genTokens: n, request: s.request });
  };
  for (const s of [def, tuned]) await once(s, 4); // warm-up: pages the weights in, sizes the step buffers
  const out: Pair[] = [];
  for (let i = 0; i < pairs; i++) {
    // D T, then T D: neither side always runs right after the other.
    if (i % 2 === 0) { const d = await once(def, genTokens); out.push({ def: d, tuned: await once(tuned, genTokens) }); }
    else { const t = await once(tuned, genTokens); out.push({ def: await once(def, genTokens), tuned: t }); }
  }
  console.log(JSON.stringify(out));
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

const loadAvg = () => readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;
const score = (f: WorkloadFigures) => tuneScore(f, values.target as TuneTarget, genTokens);
const all: { score: number; ttft: number; tpot: number }[] = [];
const t0 = performance.now(), loads: string[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  loads.push(loadAvg());
  const got = JSON.parse(run(process.execPath, ["--import", "tsx", path.join(repoRoot, "bench/tune.ts"), "--measure", recipeFile, ...(r % 2 ? ["--load-tuned-first"] : []), "--target", values.target!, "--streams", String(streams), "-n", String(genTokens), "--pairs", String(pairs), file])) as Pair[];
  const ratios = got.map((p) => ({ score: score(p.tuned) / score(p.def), ttft: p.tuned.ttftMs / p.def.ttftMs, tpot: p.tuned.msPerToken / p.def.msPerToken }));
  all.push(...ratios);
  console.log(`process ${r + 1} (load ${loads.at(-1)}): default ${fmt(median(got.map((p) => score(p.def))))}, tuned ${fmt(median(got.map((p) => score(p.tuned))))} ${values.target === "latency" ? "requests" : "tokens"}/s (medians); tuned/default ${fmt(median(ratios.map((x) => x.score)), 3)}x over ${got.length} pairs`);
}
const s = all.map((x) => x.score).sort((a, b) => a - b);
const rank = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
// 95% interval of the median: ranks n/2 ∓ 0.98·√n of the sorted ratios (the sign test's interval).
const half = 0.98 * Math.sqrt(s.length), lo = s[Math.max(0, Math.floor(s.length / 2 - half))]!, hi = s[Math.min(s.length - 1, Math.ceil(s.length / 2 + half) - 1)]!;
console.log(`\n${path.basename(file)}, ${values.target}, ${streams} stream${streams === 1 ? "" : "s"} x ${genTokens} tokens; ${values.rounds} fresh processes x ${pairs} alternating pairs in ${fmt((performance.now() - t0) / 1000, 0)} s, load ${loads.join(", ")}; recipe ${recipeFile}`);
console.log(`  tuned / default ${values.target === "latency" ? "requests/s" : "tokens/s  "}   ${fmt(median(s), 3)}x  (95% CI ${fmt(lo, 3)}-${fmt(hi, 3)}, quartiles ${fmt(rank(0.25), 3)}-${fmt(rank(0.75), 3)}, ${s.length} pairs)`);
console.log(`  tuned / default TTFT          ${fmt(median(all.map((x) => x.ttft)), 3)}x (lower is better)`);
console.log(`  tuned / default ms per token  ${fmt(median(all.map((x) => x.tpot)), 3)}x (lower is better)`);
