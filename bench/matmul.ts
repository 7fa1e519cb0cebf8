// Microbenchmark of the native matmul kernels, for decode (1 activation row) and batched/prefill row counts. By
// default stories15M's shapes (LM head, FFN up, FFN down) in Q8_0/Q4_0/Q5_0; --types and --shapes pick others
// (e.g. Llama-3.2-1B's: --types q4_k,q6_k,f16 --shapes 2048x2048,8192x2048,2048x8192). Weights are packed once
// when the addon can (see native/kernels/pack.h), as the model does at load; INFER_REPL_ADDON=<other build> runs an
// older addon for a before/after comparison (builds without kernels.pack measure the unpacked path). CPU time per
// call is printed too: at one thread it is robust to other processes sharing the cores, which wall time is not.
// --variant picks the kernels (e.g. amx against avx512: Q4_K batches on AMX tiles or not).
//   usage: npx tsx bench/matmul.ts [--threads 2] [--nact 1,4,32,256] [--types q8_0,q4_k] [--shapes 32000x288]
//          [--variant auto|avx512|amx|avx2|scalar]
import { parseArgs } from "node:util";
import { GgmlType } from "../core/gguf/index.ts";
import { type KernelVariant, nativeKernels as k } from "../core/native-kernels.ts";
import { native } from "../core/native.ts";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    nact: { type: "string", default: "1,4,32,256" },
    types: { type: "string", default: "q8_0,q4_0,q5_0" },
    shapes: { type: "string", default: "32000x288,768x288,288x768" },
    variant: { type: "string", default: "auto" },
  },
});
native.setThreads(Number(values.threads));
const SHAPES = values.shapes.split(",").map((s) => s.split("x").map(Number) as [number, number]);
const TYPES = values.types.split(",").map((name) => {
  const type = GgmlType[name.toUpperCase() as keyof typeof GgmlType];
  if (type === undefined) throw new Error(`unknown type ${name}`);
  return [type, name] as const;
});
const variant = values.variant as KernelVariant | "auto";
const MAC_BUDGET = 3e8; // multiply-accumulates per measurement, so every shape takes a similar time

for (const nAct of values.nact.split(",").map(Number)) {
  for (const [rows, cols] of SHAPES) {
    for (const [type, name] of TYPES) {
      const x = new Float32Array(nAct * cols).map(() => Math.random() - 0.5);
      const w = k.quantizeRow(type, new Float32Array(rows * cols).map(() => Math.random() - 0.5));
      const packed = typeof k.pack === "function" ? k.pack(type, w, rows, cols) : undefined;
      const run = () => k.matmul(type, w, rows, cols, x, nAct, variant, packed ?? undefined);
      for (let i = 0; i < 5; i++) run();
      const n = Math.max(5, Math.round(MAC_BUDGET / (rows * cols * nAct)));
      const t0 = performance.now(), c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) run();
      const us = ((performance.now() - t0) / n) * 1000;
      const c = process.cpuUsage(c0), cpuUs = (c.user + c.system) / n;
      const gmac = (t: number) => ((rows * cols * nAct) / t / 1000).toFixed(1);
      console.log(`${name} ${rows}x${cols} nAct ${nAct}: ${us.toFixed(1)} us, ${gmac(us)} GMAC/s; CPU ${cpuUs.toFixed(1)} us, ${gmac(cpuUs)} GMAC/CPU-s`);
    }
  }
}
