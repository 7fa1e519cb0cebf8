// Memory-bound decode: a synthetic ~100M-parameter llama (dim 1024, 8 layers, FFN 2816) in Q8_0 and Q4_K_S,
// decoded by infer-repl and by llama.cpp's llama-bench at 1 and 2 threads (alternating, medians). Each decoded
// token reads every weight once, so weight bytes × tokens/s is the bandwidth a decoder achieves; the same script
// measures the machine's copy bandwidth (memcpy of 256 MiB buffers, one per thread) to compare against.
//   usage: npx tsx bench/bandwidth.ts [--rounds 5] [-n 64]
import { existsSync, mkdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { quantizeGguf } from "../core/quantize/index.ts";
import { writeSyntheticModel } from "../test/helpers/synthetic-model.ts";
import { copyBandwidth, fmt, inferReplBench, llamaBench, llamaCppTools, median, weightBytesPerToken } from "./lib.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" }, n: { type: "string", short: "n", default: "64" } } });
const rounds = Number(values.rounds), tg = Number(values.n);

// The models are generated once and kept between runs (about 0.6 GB in the temp folder).
const dir = path.join(tmpdir(), "infer-repl-bench");
mkdirSync(dir, { recursive: true });
const f32 = path.join(dir, "synthetic-100M-f32.gguf");
if (!existsSync(f32)) {
  console.log(`writing ${f32} ...`);
  writeSyntheticModel(f32, { architecture: "llama", nEmbd: 1024, nLayer: 8, nHead: 16, nHeadKv: 16, nFf: 2816, seed: 100 });
}
const files = (["Q8_0", "Q4_K_S"] as const).map((ftype) => {
  const out = path.join(dir, `synthetic-100M-${ftype.toLowerCase()}.gguf`);
  if (!existsSync(out)) quantizeGguf(f32, out, ftype);
  return out;
});

const tools = llamaCppTools();
const copy = { 1: await copyBandwidth(1), 2: await copyBandwidth(2) };
console.log(`copy bandwidth (memcpy, read+write): 1 thread ${fmt(copy[1] / 1e9)} GB/s, 2 threads ${fmt(copy[2] / 1e9)} GB/s`);

for (const file of files) {
  const bytes = weightBytesPerToken(file);
  console.log(`\n${path.basename(file)}: ${fmt(statSync(file).size / 1e6)} MB file, ${fmt(bytes / 1e6)} MB of weights read per token (tg${tg}, ${rounds} alternating rounds)`);
  const tps: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const t of [1, 2]) {
      (tps[`ours ${t}`] ??= []).push(inferReplBench(file, ["-t", String(t), "-p", "0", "-n", String(tg), "-r", "1"]).tg_tokens_per_s);
      (tps[`llama ${t}`] ??= []).push(llamaBench(tools, file, t, 0, tg).tg);
    }
  }
  for (const who of ["ours", "llama"]) {
    const line = [1, 2].map((t) => {
      const v = median(tps[`${who} ${t}`]!), gbs = (v * bytes) / 1e9;
      return `${t} thread${t > 1 ? "s" : ""}: ${fmt(v)} t/s = ${fmt(gbs)} GB/s (${fmt((100 * gbs * 1e9) / copy[t as 1 | 2], 0)}% of copy)`;
    });
    const scaling = median(tps[`${who} 2`]!.map((v, i) => v / tps[`${who} 1`]![i]!));
    console.log(`  ${who === "ours" ? "infer-repl " : "llama-bench"}  ${line.join("   ")}   1→2 threads ${fmt(scaling, 2)}x`);
  }
  const ratio = (t: number) => median(tps[`ours ${t}`]!.map((v, i) => v / tps[`llama ${t}`]![i]!));
  console.log(`  ratio infer-repl / llama.cpp decode: 1 thread ${fmt(ratio(1), 2)}x, 2 threads ${fmt(ratio(2), 2)}x`);
}
