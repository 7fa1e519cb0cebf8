// CPU time of a batched decode step: n sequences, each one token a step, greedy (argmax) rows as the engine's
// temperature-0 decode asks for them, driving the native Model directly. Wall time beside it; at a loaded machine
// the CPU milliseconds per step are the robust figure (for A/B builds, INFER_REPL_ADDON=<other build>).
// --prompt P: each sequence starts with a P-token prompt in one batch, as `generate` and `infer-repl bench` decode
// after a prefill (a batch of 16+ rows makes the Q8_0 matrices' packed copies, which decode then reads); without
// it the warm-up steps are decode steps too, and with --seqs 1 the Q8_0 rows are read in place.
//   usage: npx tsx bench/batched-step.ts <model.gguf> [--seqs 16] [--steps 24] [--threads 2] [--prompt 0]
import { parseArgs } from "node:util";
import { readGguf } from "../core/gguf/index.ts";
import { readHparams } from "../core/model/hparams.ts";
import { native } from "../core/native.ts";
import { decodeSteps } from "./decode-steps.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seqs: { type: "string", default: "16" }, steps: { type: "string", default: "24" }, threads: { type: "string", default: "2" },
    prompt: { type: "string", default: "0" },
  },
});
const file = positionals[0];
if (!file) throw new Error("usage: npx tsx bench/batched-step.ts <model.gguf> [--seqs 16] [--steps 24] [--threads 2] [--prompt 0]");
const n = Number(values.seqs), steps = Number(values.steps), prompt = Number(values.prompt);
native.setThreads(Number(values.threads));
const f = readGguf(file);
const run = decodeSteps(native, f, readHparams(f), { seqs: n, prompt, steps });

// Warm-up: pages the weights in (after the prompt, if any, two decode steps).
await run.prefill();
await run.step(prompt);
await run.step(prompt + 1);
const t0 = performance.now(), c0 = process.cpuUsage();
const stepCpu: number[] = [];
for (let s = 0; s < steps; s++) {
  const cs = process.cpuUsage();
  await run.step(prompt + 2 + s);
  const c = process.cpuUsage(cs);
  stepCpu.push((c.user + c.system) / 1000);
}
const c = process.cpuUsage(c0), wall = (performance.now() - t0) / steps, cpu = (c.user + c.system) / 1000 / steps;
// The lowest quarter of the steps' CPU times: other processes' cache and memory traffic only ever add to a step's.
const low = [...stepCpu].sort((a, b) => a - b).slice(0, Math.max(1, steps >> 2));
console.log(JSON.stringify({ seqs: n, steps, wall_ms_per_step: +wall.toFixed(2), cpu_ms_per_step: +cpu.toFixed(2),
  cpu_ms_low_quarter: +(low.reduce((a, b) => a + b, 0) / low.length).toFixed(2),
  tokens_per_s: +((n * 1000) / wall).toFixed(1), tokens_per_cpu_s: +((n * 1000) / cpu).toFixed(1) }));
