// CPU time of a decode step under two builds of the addon in one process, step by step in turn (A B A B ...), so
// that both meet the same moments of a loaded machine: per build, the median CPU milliseconds a step, and the median
// of the per-pair ratios. Each build loads its own copy of the model; with --prompt P each sequence first takes a
// P-token prompt in one batch (packing the Q8_0 matrices, as decode after a prefill reads them). Run both orders
// (A B, then B A): two loads of one build can differ (before q8dec34 a model's packed copies had a share of 2 MiB
// pages that varied by load, and two instances of the same build differed by up to 1.25x).
//   usage: npx tsx bench/interleaved-step.ts <model.gguf> <addon A.node> <addon B.node> [--seqs 1] [--steps 64]
//          [--threads 2] [--prompt 16]
import { createRequire } from "node:module";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { readGguf } from "../core/gguf/index.ts";
import { readHparams } from "../core/model/hparams.ts";
import type { NativeAddon } from "../core/native.ts";
import { decodeSteps } from "./decode-steps.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seqs: { type: "string", default: "1" }, steps: { type: "string", default: "64" }, threads: { type: "string", default: "2" },
    prompt: { type: "string", default: "16" },
  },
});
const [file, ...addons] = positionals;
if (!file || addons.length !== 2) {
  throw new Error("usage: npx tsx bench/interleaved-step.ts <model.gguf> <A.node> <B.node> [--seqs 1] [--steps 64] [--threads 2] [--prompt 16]");
}
const n = Number(values.seqs), steps = Number(values.steps), prompt = Number(values.prompt);
const require = createRequire(import.meta.url);
const f = readGguf(file);
const hp = readHparams(f);

// One build's model and cache.
function runner(addon: string) {
  const native = require(path.resolve(addon)) as NativeAddon;
  native.setThreads(Number(values.threads));
  return decodeSteps(native, f, hp, { seqs: n, prompt, steps });
}

const runs = addons.map(runner);
for (const r of runs) {
  await r.prefill();
  await r.step(prompt);  // warm-up: pages the weights in
}
const cpu: number[][] = [[], []];
let same = true;
for (let s = 0; s < steps; s++) {
  const out: Int32Array[] = [];
  // Alternate which build goes first, so neither always follows the other's cache traffic.
  for (const i of s % 2 === 0 ? [0, 1] : [1, 0]) {
    await sleep(2);  // the other build's pool stops spinning (200 µs) before this step's clock starts
    const c0 = process.cpuUsage();
    out[i] = await runs[i]!.step(prompt + 1 + s);
    const c = process.cpuUsage(c0);
    cpu[i]!.push((c.user + c.system) / 1000);
  }
  same &&= out[0]!.every((t, j) => t === out[1]![j]);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const ratios = cpu[0]!.map((a, i) => a / cpu[1]![i]!);
console.log(JSON.stringify({
  seqs: n, steps, prompt, cpu_ms_a: +median(cpu[0]!).toFixed(2), cpu_ms_b: +median(cpu[1]!).toFixed(2),
  a_over_b: +median(ratios).toFixed(3), same_tokens: same,
}));
