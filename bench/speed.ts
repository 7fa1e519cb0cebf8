// Prefill and decode speed of infer-repl against llama.cpp's llama-bench and node-llama-cpp, on the same files,
// threads and machine, in one run. Programs alternate (A B C A B C ...) and the report is the median of the
// per-round ratios, because this machine's speed drifts from run to run.
//   usage: npx tsx bench/speed.ts [--rounds 5] [--threads 2] [-p 256] [-n 128] [file.gguf ...]
import { parseArgs } from "node:util";
import { fmt, inferReplBench, llamaBench, llamaCppTools, median, medianRatio, model } from "./lib.ts";
import { nodeLlamaCppBench } from "./node-llama-cpp-peer.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    p: { type: "string", short: "p", default: "256" },
    n: { type: "string", short: "n", default: "128" },
  },
});
const rounds = Number(values.rounds), threads = Number(values.threads), pp = Number(values.p), tg = Number(values.n);
const files = positionals.length ? positionals : [model("stories15M-q8_0.gguf")];
const tools = llamaCppTools();

for (const file of files) {
  const ours: { pp: number; tg: number }[] = [], llama: { pp: number; tg: number }[] = [], peer: { pp: number; tg: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    const o = inferReplBench(file, ["-t", String(threads), "-p", String(pp), "-n", String(tg), "-r", "1"]);
    ours.push({ pp: o.pp_tokens_per_s, tg: o.tg_tokens_per_s });
    llama.push(llamaBench(tools, file, threads, pp, tg));
    peer.push(await nodeLlamaCppBench(file, threads, pp, tg));
  }
  const ratio = (a: { pp: number; tg: number }[], b: { pp: number; tg: number }[], k: "pp" | "tg") => medianRatio(a.map((x) => x[k]), b.map((x) => x[k]));
  console.log(`\n${file}  (threads ${threads}, pp${pp}, tg${tg}, ${rounds} alternating rounds, medians)`);
  console.log(`  infer-repl      pp ${fmt(median(ours.map((x) => x.pp)))} t/s   tg ${fmt(median(ours.map((x) => x.tg)))} t/s`);
  console.log(`  llama-bench     pp ${fmt(median(llama.map((x) => x.pp)))} t/s   tg ${fmt(median(llama.map((x) => x.tg)))} t/s`);
  console.log(`  node-llama-cpp  pp ${fmt(median(peer.map((x) => x.pp)))} t/s   tg ${fmt(median(peer.map((x) => x.tg)))} t/s`);
  console.log(`  ratio infer-repl / llama.cpp:      prefill ${fmt(ratio(ours, llama, "pp"), 2)}x   decode ${fmt(ratio(ours, llama, "tg"), 2)}x`);
  console.log(`  ratio infer-repl / node-llama-cpp: prefill ${fmt(ratio(ours, peer, "pp"), 2)}x   decode ${fmt(ratio(ours, peer, "tg"), 2)}x`);
}
