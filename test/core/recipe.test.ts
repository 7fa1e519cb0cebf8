import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { pathToFileURL } from "node:url";
import { defineRecipe, Engine, RecipeError, sha256File } from "infer-repl";
import { noShared, sharedModel } from "../helpers/index.ts";
import { recipeEnv, scratchDir } from "../helpers/recipes.ts";
import { writeSyntheticModel } from "../helpers/synthetic-model.ts";

const scratch = scratchDir();
after(() => scratch.cleanup());
Object.assign(process.env, recipeEnv(path.join(scratch.dir, "cache")));

/** An import.meta stand-in for a recipe file in the scratch folder. */
const meta = (name: string) => ({ url: pathToFileURL(path.join(scratch.dir, name)).href });

test("an imported recipe's generate() equals the engine's with the same settings", { skip: noShared }, async () => {
  const { default: greedy } = await import("../../recipes/story-greedy.ts");
  assert.equal(greedy.config.sampling?.temperature, 0);
  const r = await greedy.generate("Once upon a time");
  assert.equal(r.tokens.length, greedy.config.maxTokens);
  const engine = await Engine.load({ model: sharedModel("stories15M-f32.gguf") });
  const direct = await engine.generate("Once upon a time", { temperature: 0, maxTokens: greedy.config.maxTokens });
  assert.equal(r.text, direct.text);
  assert.ok(r.text.startsWith(", there was a little girl"), r.text);
  // The recipe's engine is one shared engine, and per-call options override the recipe's.
  assert.equal(await greedy.engine(), await greedy.engine());
  const short = await greedy.generate("Once upon a time", { maxTokens: 3 });
  assert.deepEqual(short.tokens, r.tokens.slice(0, 3));
});

test("stream() yields the text generate() returns; batch() keeps input order", { skip: noShared }, async () => {
  const recipe = defineRecipe(meta("seeded.ts"), {
    model: { file: sharedModel("stories260K.gguf") },
    sampling: { temperature: 0.8, seed: 5 },
    maxTokens: 24,
  });
  const prompts = ["Once upon a time", "The cat", "A big red ball"];
  const one = await Promise.all(prompts.map((p) => recipe.generate(p)));
  const batched = await recipe.batch(prompts);
  assert.deepEqual(batched.map((r) => r.text), one.map((r) => r.text));
  const s = recipe.stream(prompts[1]!);
  let streamed = "";
  for await (const e of s) streamed += e.text;
  assert.equal(streamed, one[1]!.text);
  assert.equal((await s.result).text, one[1]!.text);
  await recipe.close();
});

test("the model path is relative to the recipe file, and a matching sha256 is accepted", { skip: noShared }, async () => {
  copyFileSync(sharedModel("stories260K.gguf"), path.join(scratch.dir, "tiny.gguf"));
  const sha256 = await sha256File(path.join(scratch.dir, "tiny.gguf"));
  const recipe = defineRecipe(meta("pinned.ts"), { model: { file: "./tiny.gguf", sha256 }, sampling: { temperature: 0 }, maxTokens: 4 });
  assert.equal((await recipe.generate("Once")).tokens.length, 4);
});

test("a sha256 mismatch or a missing model file is a RecipeError naming the field", { skip: noShared }, async () => {
  writeFileSync(path.join(scratch.dir, "other.gguf"), "not the model");
  const wrong = defineRecipe(meta("wrong.ts"), { model: { file: "other.gguf", sha256: "0".repeat(64) } });
  await assert.rejects(wrong.generate("x"), (e: Error) => e instanceof RecipeError && /^model\.sha256: expected 0{64}, but .*other\.gguf has sha256 [0-9a-f]{64}$/.test(e.message));
  const missing = defineRecipe(meta("missing.ts"), { model: "no-such-model.gguf" });
  await assert.rejects(missing.generate("x"), (e: Error) => e instanceof RecipeError && /^model\.file: expected a GGUF file, but .*no-such-model\.gguf does not exist$/.test(e.message));
});

test("defineRecipe without import.meta, or with a bad configuration, throws RecipeError when imported", () => {
  assert.throws(() => defineRecipe({ model: "stories15M" } as never, undefined as never), /first argument must be the recipe module's import\.meta/);
  assert.throws(() => defineRecipe(meta("bad.ts"), { model: "stories15M", sampling: { topP: 2 } }), (e: Error) => e instanceof RecipeError && e.message === "sampling: topP must be in (0, 1], got 2");
  assert.throws(() => defineRecipe(meta("spec.ts"), { model: "stories15M", speculative: { mode: "self" } as never }), /^RecipeError: speculative\.layers: missing/);
});

test("a recipe's config is frozen: what it says is what runs", () => {
  const recipe = defineRecipe(meta("frozen.ts"), { model: "stories15M", sampling: { temperature: 0 }, stop: ["\n"] });
  assert.throws(() => { (recipe.config.sampling as { temperature: number }).temperature = 1; }, TypeError);
  assert.throws(() => { (recipe.config.stop as string[]).push("x"); }, TypeError);
});

test("a chat recipe on a model without a chat template fails clearly", { skip: noShared }, async () => {
  const recipe = defineRecipe(meta("chat.ts"), { model: { file: sharedModel("stories260K.gguf") }, chat: { system: "Be brief." } });
  await assert.rejects(recipe.generate("Hi"), /the model has no chat template/);
});

test("a chat recipe renders the model's template (system + user) and adds no second BOS", { skip: noShared }, async () => {
  const model = path.join(scratch.dir, "chat.gguf");
  const template = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}[assistant]";
  writeSyntheticModel(model, {
    architecture: "llama", nEmbd: 32, nLayer: 1, nHead: 2, nHeadKv: 2, nFf: 64,
    extraMetadata: [["tokenizer.chat_template", template]],
  });
  const recipe = defineRecipe(meta("chat-ok.ts"), { model: { file: model }, chat: { system: "Be brief." }, sampling: { temperature: 0 }, maxTokens: 6 });
  const r = await recipe.generate("Hi");
  const engine = await recipe.engine();
  const rendered = "<s>[system] Be brief.\n[user] Hi\n[assistant]";
  const direct = await engine.generate(rendered, { temperature: 0, maxTokens: 6, addSpecial: false, parseSpecial: true });
  assert.deepEqual(r.promptTokens, direct.promptTokens);
  assert.equal(r.promptTokens.filter((t) => t === engine.model.tokenizer.bos).length, 1, "one BOS");
  assert.equal(r.text, direct.text);
});
