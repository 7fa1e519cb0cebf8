// CPU time of one prompt's prefill step (a ubatch of --tokens rows, logits of the last row only, as llama-bench's
// pp test asks), driving the native Model directly. At a loaded machine the lowest step's CPU time is the robust
// figure (other processes' cache and memory traffic only ever add to it); for A/B builds, INFER_REPL_ADDON=<other
// build>, alternating runs.
//   usage: npx tsx bench/prefill-step.ts <model.gguf> [--tokens 512] [--steps 3] [--threads 1]
import { parseArgs } from "node:util";
import { readGguf } from "../core/gguf/index.ts";
import { readHparams } from "../core/model/hparams.ts";
import { weightTable } from "../core/model/weights.ts";
import { native } from "../core/native.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { tokens: { type: "string", default: "512" }, steps: { type: "string", default: "3" }, threads: { type: "string", default: "1" } },
});
const file = positionals[0];
if (!file) throw new Error("usage: npx tsx bench/prefill-step.ts <model.gguf> [--tokens 512] [--steps 3] [--threads 1]");
const n = Number(values.tokens), steps = Number(values.steps);
native.setThreads(Number(values.threads));
const f = readGguf(file);
const hp = readHparams(f);
// The batch arithmetic: every row in llama.cpp's ubatch order (tinyBLAS for float matmuls, the tiled attention), as
// the engine's default "prompt" arithmetic computes a prompt's rows but for its one logit row in the last layer.
const model = new native.Model({ path: f.path, config: { ...hp, batchArithmetic: true }, tensors: weightTable(f, hp) });
const BLOCK = 16, nBlocks = Math.ceil(n / BLOCK);
const kv = new native.KvCache({ nLayer: hp.nLayer, nBlocks, blockSize: BLOCK, kvDim: hp.nHeadKv * hp.headDim, type: "f16" });
const batch = {
  tokens: Int32Array.from({ length: n }, (_, i) => 1000 + ((i * 7919) % 20000)),
  positions: Int32Array.from({ length: n }, (_, i) => i),
  seqIds: new Int32Array(n),
  blockTables: Int32Array.from({ length: nBlocks }, (_, i) => i),
  tableOffsets: Int32Array.from([0, nBlocks]),
  logitRows: Int32Array.from([n - 1]),
  logits: new Float32Array(hp.nVocab),
};

await model.forward(kv, batch);  // warm-up: pages the weights in
const cpu: number[] = [], wall: number[] = [];
for (let s = 0; s < steps; s++) {
  const t0 = performance.now(), c0 = process.cpuUsage();
  await model.forward(kv, batch);  // the same positions again: each step rewrites the same KV slots
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
  wall.push(performance.now() - t0);
}
const low = Math.min(...cpu);
console.log(JSON.stringify({ tokens: n, steps, cpu_ms_min: +low.toFixed(1), cpu_ms: cpu.map((x) => +x.toFixed(1)),
  wall_ms: wall.map((x) => +x.toFixed(1)), tokens_per_cpu_s: +((n * 1000) / low).toFixed(1) }));
