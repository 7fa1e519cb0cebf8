import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { Engine, recipeConfigFromOptions, renderRecipe, sha256File, type EngineOptions, type GenerateOptions } from "infer-repl";
import { noShared, sharedModel } from "../helpers/index.ts";
import { recipeEnv, runTsx, scratchDir } from "../helpers/recipes.ts";

const scratch = scratchDir();
after(() => scratch.cleanup());
const env = recipeEnv(path.join(scratch.dir, "cache"));

// What a notebook session holds: the engine's load options and the generation options being tuned.
const engineOptions: EngineOptions = { model: sharedModel("stories15M-q8_0.gguf"), contextSize: 256, kvBlockSize: 16, maxSeqs: 8 };
const generateOptions: GenerateOptions = { temperature: 0.9, topK: 30, topP: 0.9, repeatPenalty: 1.05, seed: 31337, maxTokens: 40, stop: ["\n\n"] };

test("an exported recipe, run with tsx, prints the text engine.generate gives with the same settings and seed", { skip: noShared }, async () => {
  const config = recipeConfigFromOptions(engineOptions, generateOptions, { sha256: await sha256File(engineOptions.model) });
  const file = path.join(scratch.dir, "tuned.ts");
  const source = renderRecipe(config, { tokensPerS: 412.34, perplexity: 5.4321, measuredAt: "2025-01-02T03:04:05Z" }, file);
  writeFileSync(file, source);
  assert.match(source, /^\/\/ Measured when tuned: 412\.3 tokens\/s; perplexity 5\.432\.$/m);
  assert.match(source, /file: "(\.\.\/)+shared\/models\/stories15M-q8_0\.gguf"/, "model path relative to the recipe");
  assert.match(source, /export default defineRecipe\(import\.meta, \{/);

  const prompt = "Once upon a time";
  const engine = await Engine.load(engineOptions);
  const expected = await engine.generate(prompt, generateOptions);
  const run = await runTsx(file, [prompt], "", env);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, prompt + expected.text + "\n");

  // Imported, it holds the same configuration it was rendered from.
  const { default: recipe } = await import(file);
  assert.deepEqual(recipe.config, config);
});

test("renderRecipe keeps cache names, writes logit bias bans, and notes a missing seed", () => {
  const source = renderRecipe({ model: { name: "stories15M" }, sampling: { temperature: 0.7, logitBias: { 13: -Infinity, 2: 1.5 } } });
  assert.match(source, /model: "stories15M",/);
  assert.match(source, /logitBias: \{ 2: 1\.5, 13: -Infinity \}/);
  assert.match(source, /No sampling seed: the text differs from run to run/);
  assert.doesNotMatch(source, /Measured/);
});

test("recipeConfigFromOptions maps engine options to recipe fields and refuses what a recipe cannot carry", () => {
  const config = recipeConfigFromOptions({ model: "m.gguf", kvType: "f32", maxWaitMs: 3, threads: 2 }, { temperature: 0, maxTokens: 9 });
  assert.deepEqual(config, {
    model: { file: path.resolve("m.gguf") }, threads: 2, kv: { type: "f32" }, batching: { maxWaitMs: 3 },
    sampling: { temperature: 0 }, maxTokens: 9,
  });
  assert.throws(() => recipeConfigFromOptions({ model: "m.gguf" }, { ignoreEos: true }), /^RecipeError: ignoreEos: a recipe cannot carry this option/);
  assert.throws(() => recipeConfigFromOptions({ model: "m.gguf" }, { top_k: 3 } as GenerateOptions), /unknown sampling option "top_k"/);
});

test("speculative decoding and early exit are carried: the draft model beside the mode, relative to the recipe", () => {
  const engine: EngineOptions = { model: "/models/m.gguf", draftModel: "/models/d.gguf" };
  const earlyExit = [{ layer: 3, threshold: 0.9 }];
  const config = recipeConfigFromOptions(engine, { speculative: { mode: "draft", k: 4 }, earlyExit });
  assert.deepEqual(config.speculative, { mode: "draft", draft: "/models/d.gguf", k: 4 });
  assert.deepEqual(config.earlyExit, earlyExit);
  const source = renderRecipe(config, {}, "/recipes/tuned.ts");
  assert.match(source, /speculative: \{ mode: "draft", draft: "\.\.\/models\/d\.gguf", k: 4 \},/);
  assert.match(source, /earlyExit: \[\{ layer: 3, threshold: 0\.9 \}\],/);
  // Self-drafting needs no draft model: one the engine holds anyway is not part of the recipe.
  assert.deepEqual(recipeConfigFromOptions(engine, { speculative: { mode: "self", layers: 2 } }).speculative, { mode: "self", layers: 2 });
  assert.throws(() => recipeConfigFromOptions({ model: "m.gguf" }, { speculative: { mode: "draft" } }), /^RecipeError: speculative: mode "draft" needs the engine's draftModel/);
});
