import { Engine } from "../../core/engine.ts";
import { llamaCppLogits, llamaCppStepLogits, rowRelativeError } from "./llama-cpp.ts";
import { ourStepLogits } from "./step-logits.ts";
import { prng } from "./synthetic-model.ts";

export interface RealShapeParity {
  /** Largest row-relative logit error over a 66-token input evaluated as one batch (Engine.logits). */
  batchWorst: number;
  /** The same over a generation's steps: a 70-token prompt as one batch, then 63 greedy tokens fed one at a time. */
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
 * Compares a model file with llama.cpp (node-llama-cpp, flash attention on), both in their default arithmetic: a
 * 66-token one-batch evaluation, and a greedy generation of 64 tokens through the engine after a 70-token prompt
 * that llama.cpp evaluates as one batch, checked step by step against llama.cpp's logits and argmax. The lengths
 * take every path llama.cpp's prompt batch has: its batched Q4_K order (4+ rows), the single-row order for the
 * last n % 4 rows, its tiled flash attention (64+ rows). Token ids come from [1000, 30000), ordinary tokens in
 * every real-shape vocabulary.
 */
export async function realShapeParity(file: string, seed = 1): Promise<RealShapeParity> {
  const rand = prng(seed);
  const input = Array.from({ length: 70 }, () => 1000 + Math.floor(rand() * 29000));
  const batchInput = input.slice(0, 66);

  const engine = await Engine.load({ model: file, threads: 2 });
  const vocab = engine.model.hparams.nVocab;
  let ours: Float32Array;
  let generated: number[];
  try {
    ours = await engine.logits(batchInput);
    generated = (await engine.generate(input, { temperature: 0, maxTokens: 64, ignoreEos: true, addSpecial: false })).tokens;
  } finally {
    engine.close();
  }
  const want = await llamaCppLogits(file, batchInput);
  let batchWorst = 0;
  want.forEach((row, i) => { batchWorst = Math.max(batchWorst, rowRelativeError(ours.subarray(i * vocab, (i + 1) * vocab), row)); });

  const prompt = input;
  const wantSteps = await llamaCppStepLogits(file, prompt, generated.slice(0, -1));
  const ourSteps = await ourStepLogits(file, prompt, generated.slice(0, -1));
  let stepWorst = 0;
  wantSteps.forEach((row, i) => { stepWorst = Math.max(stepWorst, rowRelativeError(ourSteps[i]!, row)); });
  const greedyMismatch = wantSteps.findIndex((row, i) => argmax(row) !== generated[i]);
  return { batchWorst, stepWorst, greedyMismatch, generated };
}
