import { Engine } from "../../core/engine.ts";
import { llamaCppLogits, llamaCppStepLogits, rowRelativeError } from "./llama-cpp.ts";
import { ourStepLogits } from "./step-logits.ts";
import { prng } from "./synthetic-model.ts";

export interface RealShapeParity {
  /** Largest row-relative logit error over a 64-token input evaluated as one batch (our "batch" arithmetic). */
  batchWorst: number;
  /** The same over a generation's steps: an 8-token prompt, then 63 greedy tokens fed one at a time. */
  stepWorst: number;
  /** The first generated token llama.cpp would not have chosen (its argmax after the same tokens), or -1. */
  greedyMismatch: number;
  generated: number[];
}

/** The acceptance bound of issue 14: of the row's largest logit, 1e-5 for float files, 1e-4 for quantized ones. */
export const parityBound = (format: string): number => (/^(F16|BF16|F32)$/i.test(format) ? 1e-5 : 1e-4);

function argmax(row: ReadonlyMap<number, number>): number {
  let best = -1, bestValue = -Infinity;
  for (const [id, v] of row) if (v > bestValue) [best, bestValue] = [id, v];
  return best;
}

/**
 * Compares a model file with llama.cpp (node-llama-cpp, flash attention on): a 64-token one-batch evaluation, and a
 * greedy generation of 64 tokens through the engine, checked step by step against llama.cpp's logits and argmax.
 * Token ids come from [1000, 30000), ordinary tokens in every real-shape vocabulary.
 */
export async function realShapeParity(file: string, seed = 1): Promise<RealShapeParity> {
  const rand = prng(seed);
  const input = Array.from({ length: 64 }, () => 1000 + Math.floor(rand() * 29000));

  const batchEngine = await Engine.load({ model: file, threads: 2, arithmetic: "batch" });
  const vocab = batchEngine.model.hparams.nVocab;
  let ours: Float32Array;
  try {
    ours = await batchEngine.logits(input);
  } finally {
    batchEngine.close();
  }
  const want = await llamaCppLogits(file, input);
  let batchWorst = 0;
  want.forEach((row, i) => { batchWorst = Math.max(batchWorst, rowRelativeError(ours.subarray(i * vocab, (i + 1) * vocab), row)); });

  const prompt = input.slice(0, 8);
  const engine = await Engine.load({ model: file, threads: 2 });
  let generated: number[];
  try {
    generated = (await engine.generate(prompt, { temperature: 0, maxTokens: 64, ignoreEos: true, addSpecial: false })).tokens;
  } finally {
    engine.close();
  }
  const wantSteps = await llamaCppStepLogits(file, prompt, generated.slice(0, -1));
  const ourSteps = await ourStepLogits(file, prompt, generated.slice(0, -1));
  let stepWorst = 0;
  wantSteps.forEach((row, i) => { stepWorst = Math.max(stepWorst, rowRelativeError(ourSteps[i]!, row)); });
  const greedyMismatch = wantSteps.findIndex((row, i) => argmax(row) !== generated[i]);
  return { batchWorst, stepWorst, greedyMismatch, generated };
}
