// Mixture-of-experts real shapes (scripts/real-shapes.ts: Qwen3-30B-A3B with fewer layers, OLMoE-1B-7B whole;
// random weights) as Q4_K_M made by llama-quantize from the generated Q8_0 file, against llama.cpp's own tools:
// decode (tg) and prefill (pp128, pp512) against llama-bench, and 32 sequences of aggregate decode against
// llama-batched-bench. Fresh processes, programs alternating round by round (A B A B); each ratio is the median of
// the per-round ratios.
//   usage: npx tsx bench/moe.ts [--rounds 3] [--threads 2] [-n 32] [--pp 128,512] [--qwen-layers 4] [--shapes id,...]
//          [--format Q4_K_M|Q8_0] [--batched-rounds 2] [--no-batched | --batched-only]
import { existsSync, renameSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { readGguf } from "../core/gguf/index.ts";
import { readHparams } from "../core/model/hparams.ts";
import { parameterCounts } from "../core/model/parameters.ts";
import { EXPERT_SHAPE_IDS, REAL_SHAPES, realShapeModel, realShapePath, type RealShapeId } from "../scripts/real-shapes.ts";
import { fmt, inferReplBench, llamaBatched, llamaBench, llamaCppTools, median, medianRatio, run } from "./lib.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    n: { type: "string", short: "n", default: "32" },
    pp: { type: "string", default: "128,512" },
    format: { type: "string", default: "Q4_K_M" },
    "qwen-layers": { type: "string", default: "4" },
    shapes: { type: "string", default: EXPERT_SHAPE_IDS.join(",") },
    "batched-rounds": { type: "string", default: "2" },
    "no-batched": { type: "boolean", default: false },
    "batched-only": { type: "boolean", default: false },
  },
});
const rounds = Number(values.rounds), threads = Number(values.threads), tg = Number(values.n);
const pps = values.pp.split(",").map(Number);
const tools = llamaCppTools();

/** The Q4_K_M file of a shape: llama-quantize's mix for expert models, from the generated Q8_0 file. */
function q4km(id: RealShapeId, layers: number): string {
  const file = realShapePath(id, "Q4_K_M", { layers });
  if (existsSync(file)) return file;
  const q8 = realShapeModel(id, "Q8_0", { layers });
  run(path.join(tools, "llama-quantize"), ["--allow-requantize", q8, `${file}.partial`, "Q4_K_M"]);
  renameSync(`${file}.partial`, file);
  return file;
}

const rows: string[] = [], batchedRows: string[] = [];
for (const id of values.shapes.split(",") as RealShapeId[]) {
  const shape = REAL_SHAPES[id];
  const layers = id === "qwen3-30b-a3b" ? Number(values["qwen-layers"]) : shape.nLayer;
  const file = values.format.toUpperCase() === "Q8_0" ? realShapeModel(id, "Q8_0", { layers }) : q4km(id, layers);
  const f = readGguf(file);
  const active = parameterCounts(f, readHparams(f));
  const name = `${shape.name}${layers < shape.nLayer ? ` (${layers} of ${shape.nLayer} layers)` : ""} ${values.format.toUpperCase()}`;
  console.log(`${name}: ${file}, ${fmt(active.activeBytes / 2 ** 20)} MiB of weights per token`);
  // The first prompt length's run also decodes tg tokens; the others only prefill.
  const ours = { tg: [] as number[], pp: pps.map(() => [] as number[]) };
  const llama = { tg: [] as number[], pp: pps.map(() => [] as number[]) };
  for (let r = 0; r < (values["batched-only"] ? 0 : rounds); r++) {
    pps.forEach((pp, i) => {
      const o = inferReplBench(file, ["-t", String(threads), "-p", String(pp), "-n", String(i === 0 ? tg : 0), "-r", "1"]);
      const l = llamaBench(tools, file, threads, pp, i === 0 ? tg : 0);
      if (i === 0) ours.tg.push(o.tg_tokens_per_s), llama.tg.push(l.tg);
      ours.pp[i]!.push(o.pp_tokens_per_s), llama.pp[i]!.push(l.pp);
      console.log(`  round ${r + 1}: pp${pp} ${fmt(o.pp_tokens_per_s)} vs ${fmt(l.pp)}${i === 0 ? `, tg${tg} ${fmt(o.tg_tokens_per_s)} vs ${fmt(l.tg)}` : ""} t/s`);
    });
  }
  const cell = (a: number[], b: number[]) => `${fmt(medianRatio(a, b), 2)}x (${fmt(median(a))} vs ${fmt(median(b))} t/s)`;
  if (!values["batched-only"]) {
    rows.push(`| ${name} | ${cell(ours.tg, llama.tg)} | ${pps.map((_, i) => cell(ours.pp[i]!, llama.pp[i]!)).join(" | ")} |`);
    console.log(rows.at(-1));
  }
  if (values["no-batched"]) continue;
  const o: number[] = [], l: number[] = [];
  for (let r = 0; r < Number(values["batched-rounds"]); r++) {
    o.push(inferReplBench(file, ["-t", String(threads), "-p", "64", "-n", "32", "-r", "1", "--parallel", "32"]).parallel.find((p) => p.n === 32)!.tokens_per_s);
    l.push(llamaBatched(tools, file, threads, 64, 32, 32));
    console.log(`  batched round ${r + 1}: ${fmt(o.at(-1)!)} vs ${fmt(l.at(-1)!)} t/s`);
  }
  batchedRows.push(`| ${name} | 32 | ${fmt(median(o))} t/s | ${fmt(median(l))} t/s | ${fmt(medianRatio(o, l), 2)}x |`);
  console.log(batchedRows.at(-1));
}
if (rows.length) {
  console.log(`\n${threads} threads, tg${tg}, ${rounds} alternating rounds, medians of per-round ratios`);
  console.log(`| file | decode vs llama-bench | ${pps.map((p) => `pp${p}`).join(" | ")} |\n|---|---|${pps.map(() => "---|").join("")}\n${rows.join("\n")}`);
}
if (batchedRows.length) console.log(`\n| file | sequences | infer-repl aggregate decode | llama-batched-bench S_TG | ratio |\n|---|---|---|---|---|\n${batchedRows.join("\n")}`);
