// Throughput: pipe many prompts on stdin (one per line); all are submitted at once and batched by the engine.
import { defineRecipe } from "infer-repl";

export default defineRecipe(import.meta, {
  model: "stories15M",
  contextSize: 256,
  kv: { blockSize: 16, type: "f16", memoryMiB: 64 },
  batching: { maxSeqs: 32, maxBatchTokens: 512, maxWaitMs: 5 },
  sampling: { temperature: 0.7, seed: 7 },
  maxTokens: 48,
});
