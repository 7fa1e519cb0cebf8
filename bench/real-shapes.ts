// Every path on the real-shape files (scripts/real-shapes.ts: released models' shapes, random weights) against
// llama.cpp's own tools, in one run, fresh processes, programs alternating round by round; each ratio is the median
// of the per-round ratios (this machine's speed drifts):
//   decode (tg) and prefill (pp128, pp512) against llama-bench, with decode's weight bytes/s beside the machine's
//   two-thread copy bandwidth; 16 and 32 sequences of aggregate decode against llama-batched-bench (Qwen2.5-0.5B
//   and Llama-3.2-1B Q4_K_M); peak RSS of `generate -n 16 -c 4096` against llama-completion's with the same context,
//   and load-to-first-token (wall time of a fresh process generating one token), both of the built command (`npm run
//   build` first).
//   usage: npx tsx bench/real-shapes.ts [--rounds 3] [--threads 2] [-n 64] [--shapes id,...] [--formats Q4_K_M,...]
//          [--batched-rounds 2] [--no-batched] [--no-memory] [--no-speed] [--layers N]
//   --no-speed: peak RSS and load-to-first-token only (memory barely depends on the machine's load; speed does)
//   --layers N: files cut to their first N layers (a per-layer speed figure for shapes too big to write whole here)
import path from "node:path";
import { parseArgs } from "node:util";
import { REAL_SHAPE_FORMATS, REAL_SHAPE_IDS, REAL_SHAPES, realShapeModel, type RealShapeFormat, type RealShapeId } from "../scripts/real-shapes.ts";
import { builtCli, copyBandwidth, fmt, inferReplBench, llamaBatched, llamaBench, llamaCppTools, median, medianRatio, peakRss, weightBytesPerToken } from "./lib.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    n: { type: "string", short: "n", default: "64" },
    shapes: { type: "string", default: REAL_SHAPE_IDS.join(",") },
    formats: { type: "string", default: REAL_SHAPE_FORMATS.join(",") },
    "batched-rounds": { type: "string", default: "2" },
    "no-batched": { type: "boolean", default: false },
    "no-memory": { type: "boolean", default: false },
    "no-speed": { type: "boolean", default: false },
    layers: { type: "string" },
  },
});
const rounds = Number(values.rounds), threads = Number(values.threads), tg = Number(values.n);
const shapes = values.shapes.split(",") as RealShapeId[];
const formats = values.formats.split(",").map((f) => f.toUpperCase()) as RealShapeFormat[];
for (const s of shapes) if (!(s in REAL_SHAPES)) throw new Error(`unknown shape '${s}' (${REAL_SHAPE_IDS.join(", ")})`);
const tools = llamaCppTools();
const PROMPT = "Once upon a time";
const MEMORY_CONTEXT = 4096;

const bandwidth = await copyBandwidth(threads);
console.log(`machine: ${threads}-thread copy bandwidth (memcpy, read+write) ${fmt(bandwidth / 1e9)} GB/s`);

const rows: string[] = [];

for (const id of shapes) {
  for (const format of formats) {
    const file = realShapeModel(id, format, { layers: values.layers === undefined ? undefined : Number(values.layers) });
    const name = `${REAL_SHAPES[id].name} ${format}`;
    const bytes = weightBytesPerToken(file);
    const ours = { tg: [] as number[], pp128: [] as number[], pp512: [] as number[], rss: [] as number[], ttft: [] as number[] };
    const llama = { tg: [] as number[], pp128: [] as number[], pp512: [] as number[], rss: [] as number[], ttft: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      if (!values["no-speed"]) {
        const o128 = inferReplBench(file, ["-t", String(threads), "-p", "128", "-n", String(tg), "-r", "1"]);
        const l128 = llamaBench(tools, file, threads, 128, tg);
        const o512 = inferReplBench(file, ["-t", String(threads), "-p", "512", "-n", "0", "-r", "1"]);
        const l512 = llamaBench(tools, file, threads, 512, 0);
        ours.tg.push(o128.tg_tokens_per_s), ours.pp128.push(o128.pp_tokens_per_s), ours.pp512.push(o512.pp_tokens_per_s);
        llama.tg.push(l128.tg), llama.pp128.push(l128.pp), llama.pp512.push(l512.pp);
      }
      if (!values["no-memory"]) {
        // The same context for both: llama-completion's default is the model's trained context (131072 positions
        // for Llama 3.2, a KV cache of gigabytes), ours min(that, 4096); comparing defaults would flatter us.
        const ctx = ["-c", String(MEMORY_CONTEXT)];
        const gen = (n: number) => ["generate", "-m", file, "-p", PROMPT, "-n", String(n), "--temp", "0", "-t", String(threads), ...ctx];
        const completion = (n: number) => ["-m", file, "-p", PROMPT, "-n", String(n), "--temp", "0", "-t", String(threads), ...ctx, "-no-cnv"];
        const cli = builtCli();
        ours.rss.push(peakRss(process.execPath, [cli, ...gen(16)]).bytes);
        llama.rss.push(peakRss(path.join(tools, "llama-completion"), completion(16)).bytes);
        ours.ttft.push(peakRss(process.execPath, [cli, ...gen(1)]).seconds);
        llama.ttft.push(peakRss(path.join(tools, "llama-completion"), completion(1)).seconds);
      }
    }
    const gbs = (tps: number[]) => (median(tps) * bytes) / 1e9;
    const pct = (tps: number[]) => fmt((100 * gbs(tps) * 1e9) / bandwidth, 0);
    const memory = values["no-memory"]
      ? "| — | —"
      : `| ${fmt(medianRatio(ours.rss, llama.rss), 2)}x (${fmt(median(ours.rss) / 2 ** 30, 2)} vs ${fmt(median(llama.rss) / 2 ** 30, 2)} GiB) ` +
        `| ${fmt(medianRatio(llama.ttft, ours.ttft), 2)}x (${fmt(median(ours.ttft), 2)} vs ${fmt(median(llama.ttft), 2)} s)`;
    const speed = values["no-speed"]
      ? "— | — | —"
      : `${fmt(medianRatio(ours.tg, llama.tg), 2)}x (${fmt(median(ours.tg))} vs ${fmt(median(llama.tg))} t/s; ` +
        `${fmt(gbs(ours.tg))} vs ${fmt(gbs(llama.tg))} GB/s = ${pct(ours.tg)}% vs ${pct(llama.tg)}%) ` +
        `| ${fmt(medianRatio(ours.pp128, llama.pp128), 2)}x | ${fmt(medianRatio(ours.pp512, llama.pp512), 2)}x`;
    const row = `| ${name} | ${speed} ${memory} |`;
    rows.push(row);
    console.log(row);
  }
}

const header = `| file | decode vs llama-bench (t/s; weight GB/s, % of copy bandwidth) | pp128 | pp512 | peak RSS \`generate -n 16 -c ${MEMORY_CONTEXT}\` vs llama-completion | load-to-first-token (llama.cpp's time / ours) |`;
console.log(`\n${threads} threads, tg${tg}, ${rounds} alternating rounds, medians of per-round ratios; copy bandwidth ${fmt(bandwidth / 1e9)} GB/s\n${header}\n|---|---|---|---|---|---|\n${rows.join("\n")}`);

if (!values["no-batched"]) {
  const batchedRounds = Number(values["batched-rounds"]);
  console.log("\n| file | sequences | infer-repl aggregate decode | llama-batched-bench S_TG | ratio |\n|---|---|---|---|---|");
  for (const id of ["qwen2.5-0.5b", "llama-3.2-1b"] as const) {
    const file = realShapeModel(id, "Q4_K_M");
    for (const npl of [16, 32]) {
      const ours: number[] = [], llama: number[] = [];
      for (let r = 0; r < batchedRounds; r++) {
        const o = inferReplBench(file, ["-t", String(threads), "-p", "128", "-n", "128", "-r", "1", "--parallel", String(npl)]);
        ours.push(o.parallel.find((p) => p.n === npl)!.tokens_per_s);
        llama.push(llamaBatched(tools, file, threads, 128, 128, npl));
      }
      console.log(`| ${REAL_SHAPES[id].name} Q4_K_M | ${npl} | ${fmt(median(ours))} t/s | ${fmt(median(llama))} t/s | ${fmt(medianRatio(ours, llama), 2)}x |`);
    }
  }
}
