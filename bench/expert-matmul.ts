// Microbenchmark of an MoE step's expert matmuls: `experts` matrices (each rows x cols, one type), every one against
// the same few activation rows (a 32-sequence decode gives each of OLMoE's 64 experts ~4 rows), weights together
// larger than the caches, as in a decode step. Prints wall and CPU GMAC/s per row count.
//   usage: npx tsx bench/expert-matmul.ts [--threads 2] [--nact 1,2,4,8] [--type q4_k] [--shape 1024x2048] [--experts 64]
import { parseArgs } from "node:util";
import { GgmlType } from "../core/gguf/index.ts";
import { nativeKernels as k } from "../core/native-kernels.ts";
import { native } from "../core/native.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    nact: { type: "string", default: "1,2,4,8" },
    type: { type: "string", default: "q4_k" },
    shape: { type: "string", default: "1024x2048" },
    experts: { type: "string", default: "64" },
    reps: { type: "string", default: "10" },
  },
});
native.setThreads(Number(values.threads));
const [rows, cols] = values.shape.split("x").map(Number) as [number, number];
const type = GgmlType[values.type.toUpperCase() as keyof typeof GgmlType];
const E = Number(values.experts);
const one = k.quantizeRow(type, new Float32Array(rows * cols).map(() => Math.random() - 0.5));
const mats = Array.from({ length: E }, () => ({ type, weights: one.slice(), rows }));
for (const nAct of values.nact.split(",").map(Number)) {
  const x = new Float32Array(nAct * cols).map(() => Math.random() - 0.5);
  const run = () => k.matmulGroup(mats, cols, x, nAct);
  run();
  const n = Number(values.reps);
  const t0 = performance.now(), c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) run();
  const ms = (performance.now() - t0) / n;
  const c = process.cpuUsage(c0), cpuMs = (c.user + c.system) / n / 1000;
  const mac = rows * cols * nAct * E;
  console.log(`${values.type} ${E}x ${rows}x${cols} nAct ${nAct}: ${ms.toFixed(2)} ms, ${(mac / ms / 1e6).toFixed(1)} GMAC/s; CPU ${cpuMs.toFixed(2)} ms, ${(mac / cpuMs / 1e6).toFixed(1)} GMAC/CPU-s`);
}
