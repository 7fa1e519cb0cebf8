import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { LlamaGrammar, LlamaGrammarEvaluationState, type Token } from "node-llama-cpp";
import { Engine } from "../../../../core/index.ts";
import { jsonSchemaToGbnf } from "../../../../core/sampling/grammar/json-schema.ts";
import { llamaCpp, oracleArithmeticDiffers } from "../../../helpers/llama-cpp.ts";
import { noShared, repoRoot, sharedModel } from "../../../helpers/index.ts";

// Greedy decoding under a grammar must pick llama.cpp's tokens: the most likely token its grammar sampler
// allows, step after step. llama.cpp's own grammar files and grammars from our JSON Schema converter, on
// stories15M, against node-llama-cpp's llama.cpp (LlamaGrammar, temperature 0, the same prompt tokens).
const MODEL = sharedModel("stories15M-q8_0.gguf");
/** llama.cpp's grammar sampler takes ~0.1-0.2 s a token here (it matches the whole vocabulary each step). */
const STEPS = 24;
const grammarFile = (name: string) => readFileSync(path.join(repoRoot, "node_modules/node-llama-cpp/llama/grammars", name), "utf8");

const grammars: [string, string][] = [
  ...["json.gbnf", "json_arr.gbnf", "arithmetic.gbnf", "list.gbnf", "chess.gbnf", "c.gbnf", "japanese.gbnf", "english.gbnf"].map((f): [string, string] => [f, grammarFile(f)]),
  ["schema: order", jsonSchemaToGbnf(JSON.parse(readFileSync(path.join(repoRoot, "test/core/sampling/grammar/schemas/04-order.json"), "utf8")))],
  ["schema: recipe", jsonSchemaToGbnf(JSON.parse(readFileSync(path.join(repoRoot, "test/core/sampling/grammar/schemas/42-recipe.json"), "utf8")))],
];

test("constrained greedy tokens equal llama.cpp's under the same grammar", { skip: noShared, timeout: 900_000 }, async (t) => {
  // Grammars such as japanese.gbnf leave near-ties that another arithmetic's last bits decide otherwise.
  const differs = await oracleArithmeticDiffers();
  if (differs) return t.skip(differs);
  const engine = await Engine.load({ model: MODEL, threads: 2 });
  const llama = await llamaCpp();
  const model = await llama.loadModel({ modelPath: MODEL });
  const context = await model.createContext({ contextSize: 256, flashAttention: true, threads: 2 });
  try {
    for (const prompt of ["Once upon a time"]) {
      const promptTokens = Array.from(engine.tokenize(prompt));
      for (const [name, source] of grammars) {
        // Ours: the first STEPS tokens (a large maxTokens, so no budget steering changes the choice).
        const ours: number[] = [];
        const stop = new AbortController();
        for await (const e of engine.stream(promptTokens, { grammar: source, temperature: 0, maxTokens: 4096, signal: stop.signal })) {
          if (e.token >= 0) ours.push(e.token);
          if (ours.length >= STEPS) stop.abort();
        }
        // llama.cpp's.
        const sequence = context.getSequence();
        const theirs: number[] = [];
        const grammar = new LlamaGrammar(llama, { grammar: source });
        const state = new LlamaGrammarEvaluationState({ model, grammar });
        for await (const t of sequence.evaluate(promptTokens as Token[], { temperature: 0, grammarEvaluationState: state })) {
          if (model.isEogToken(t)) break;
          theirs.push(t);
          if (theirs.length >= STEPS) break;
        }
        sequence.dispose();
        // Ours stops where the grammar is complete and nothing may follow, where llama.cpp samples its only
        // choice, end-of-generation.
        assert.deepEqual(ours, theirs.slice(0, Math.max(ours.length, Math.min(theirs.length, STEPS))), `${name}, prompt ${JSON.stringify(prompt)}`);
      }
    }
  } finally {
    engine.close();
    await context.dispose();
    await model.dispose();
  }
});
