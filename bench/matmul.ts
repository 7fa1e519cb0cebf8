// Microbenchmark of the native Q8_0/Q4_0/Q5_0 matmul kernels at stories15M's shapes (LM head, FFN up, FFN down), for
// decode (1 activation row) and batched/prefill row counts. Weights are packed once when the addon can (see
// native/kernels/pack.h), as the model does at load; INFER_REPL_ADDON=<other build> runs an older addon for a
// before/after comparison (builds without kernels.pack measure the unpacked path). CPU time per call is printed
// too: at one thread it is robust to other processes sharing the cores, which wall time is not.
//   usage: npx tsx bench/matmul.ts [--threads 2] [--nact 1,4,32,256]
import { parseArgs } from "node:util";
import { nativeKernels as k } from "../core/native-kernels.ts";
import { native } from "../core/native.ts";

const { values } = parseArgs({ options: { threads: { type: "string", default: "2" }, nact: { type: "string", default: "1,4,32,256" } } });
native.setThreads(Number(values.threads));
const SHAPES = [[32000, 288], [768, 288], [288, 768]] as const;
const TYPES = [[8, "q8_0"], [2, "q4_0"], [6, "q5_0"]] as const;
const MAC_BUDGET = 3e8; // multiply-accumulates per measurement, so every shape takes a similar time

for (const nAct of values.nact.split(",").map(Number)) {
  for (const [rows, cols] of SHAPES) {
    for (const [type, name] of TYPES) {
      const x = new Float32Array(nAct * cols).map(() => Math.random() - 0.5);
      const w = k.quantizeRow(type, new Float32Array(rows * cols).map(() => Math.random() - 0.5));
      const packed = typeof k.pack === "function" ? k.pack(type, w, rows, cols) : undefined;
      const run = () => k.matmul(type, w, rows, cols, x, nAct, "auto", packed ?? undefined);
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
