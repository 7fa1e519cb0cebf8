// Parity with llama.cpp's own sampler chain: node-llama-cpp's controlledEvaluate returns, for the same position,
// the raw logits and the distribution llama.cpp's samplers leave after given options. Our Sampler, fed the raw
// logits, must leave the same distribution.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Token } from "node-llama-cpp";
import { Sampler, type SamplingOptions } from "../../../core/sampling/index.ts";
import { assertSameDistribution } from "./statistics.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const modelPath = path.resolve(repoRoot, "../shared/models/stories15M-f32.gguf");
const skip = existsSync(modelPath) ? false : `needs ${modelPath}`;

/** llama.cpp computes in float (exp, and a float sum over up to 32k terms); we sum in double. Relative, so that
 *  unlikely tokens (e.g. penalised ones with negative logits) are checked too. */
const TOLERANCE = { absolute: 1e-12, relative: 1e-3 };

test("final distributions match llama.cpp's sampler chain on real model logits", { skip }, async () => {
  const { getLlama, LlamaLogLevel, TokenBias } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 256, sequences: 1 });
  try {
    const prompt = model.tokenize("Once upon a time, there was a little girl named Lily. She liked to play with her");
    type Next = { logits: Map<number, number>; probabilities: Map<number, number> };
    const sequence = context.getSequence();
    const llamaNext = async (options: object, logits = false): Promise<Next> => {
      await sequence.clearHistory();
      const out = await sequence.controlledEvaluate([
        ...prompt.slice(0, -1),
        [prompt[prompt.length - 1], { generateNext: { probabilities: true, logits, options } }],
      ]);
      return out[out.length - 1]!.next as Next;
    };

    const rawOptions: SamplingOptions = { temperature: 1, topK: 0, topP: 1, minP: 0 };
    const raw = await llamaNext(rawOptions, true);
    const vocabSize = raw.logits.size; // all of them: no option above drops any token
    const logits = new Float32Array(vocabSize);
    for (const [token, logit] of raw.logits) logits[token] = logit;
    // The prompt's tail, plus tokens with negative logits (penalised by multiplying, not dividing), one twice.
    const negative = [...raw.logits].filter(([, l]) => l < 0 && l > -3).slice(0, 4).map(([t]) => t);
    assert.equal(negative.length, 4, "the row has tokens with logits in (-3, 0)");
    const repeated = [...prompt.slice(-24), ...negative, negative[0]];
    const banned = [...raw.logits.keys()][0]; // the most likely token
    const cases: { ours: SamplingOptions; theirs: object }[] = [
      { ours: {}, theirs: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 } },
      { ours: { temperature: 1.3, topK: 0, topP: 0.9, minP: 0 }, theirs: { temperature: 1.3, topK: 0, topP: 0.9, minP: 0 } },
      { ours: { temperature: 2, topK: 100, topP: 0.99, minP: 0.01 }, theirs: { temperature: 2, topK: 100, topP: 0.99, minP: 0.01 } },
      {
        ours: { temperature: 1.5, topK: 0, topP: 1, minP: 0, repeatPenalty: 1.3, repeatLastN: 64, presencePenalty: 0.4, frequencyPenalty: 0.3 },
        theirs: { temperature: 1.5, topK: 0, topP: 1, minP: 0, repeatPenalty: { punishTokens: repeated, penalty: 1.3, presencePenalty: 0.4, frequencyPenalty: 0.3 } },
      },
      {
        ours: { temperature: 1.2, topK: 50, topP: 1, minP: 0, logitBias: { [banned]: -Infinity } },
        theirs: { temperature: 1.2, topK: 50, topP: 1, minP: 0, tokenBias: new TokenBias(model.tokenizer).set(banned as Token, "never") },
      },
    ];
    for (const { ours, theirs } of [{ ours: rawOptions, theirs: rawOptions }, ...cases]) {
      // controlledEvaluate with probabilities takes seconds here, so the unfiltered case reuses the first call.
      const expected = theirs === rawOptions ? raw.probabilities : (await llamaNext(theirs)).probabilities;
      const sampler = new Sampler(vocabSize, { seed: 1, ...ours });
      if (ours.repeatPenalty !== undefined) for (const t of repeated) sampler.accept(t);
      const actual = sampler.probabilities(logits.slice());
      const llamaRow = new Float64Array(vocabSize);
      for (const [token, p] of expected) llamaRow[token] = p;
      assertSameDistribution(actual, llamaRow, TOLERANCE, JSON.stringify(ours));
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
});
