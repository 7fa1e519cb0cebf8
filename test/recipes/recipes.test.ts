import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { noShared, repoRoot } from "../helpers/index.ts";
import { recipeEnv, runTsx, scratchDir } from "../helpers/recipes.ts";

const scratch = scratchDir();
after(() => scratch.cleanup());
const env = recipeEnv(path.join(scratch.dir, "cache"));
const recipe = (name: string) => path.join(repoRoot, "recipes", name);

for (const name of ["story-greedy.ts", "story-creative.ts"]) {
  test(`recipes/${name} runs with tsx and continues the prompt`, { skip: noShared }, async () => {
    const r = await runTsx(recipe(name), ["Once upon a time"], "", env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith("Once upon a time") && r.stdout.length > 60, r.stdout);
    if (name === "story-greedy.ts") assert.ok(r.stdout.startsWith("Once upon a time, there was a little girl named Lily."), r.stdout);
  });
}

test("recipes/batch-throughput.ts reads prompts from stdin and prints them in input order", { skip: noShared }, async () => {
  const prompts = ["Once upon a time", "The little dog", "Tom had a red ball", "One day"];
  const r = await runTsx(recipe("batch-throughput.ts"), [], prompts.join("\n") + "\n\n", env);
  assert.equal(r.code, 0, r.stderr);
  const blocks = r.stdout.trimEnd().split("\n\n");
  assert.equal(blocks.length, prompts.length, r.stdout);
  blocks.forEach((b, i) => assert.ok(b.startsWith(prompts[i]!) && b.length > prompts[i]!.length, b));
});

test("recipes/speculative-draft.ts gives the plain greedy recipe's text: greedy speculation changes speed, not text", { skip: noShared }, async () => {
  const [spec, plain] = [await runTsx(recipe("speculative-draft.ts"), ["Once upon a time"], "", env), await runTsx(recipe("story-greedy.ts"), ["Once upon a time"], "", env)];
  assert.equal(spec.code, 0, spec.stderr);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(spec.stdout, plain.stdout);
});

test("recipes/early-exit-fast.ts runs and continues the prompt", { skip: noShared }, async () => {
  const r = await runTsx(recipe("early-exit-fast.ts"), ["Once upon a time"], "", env);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith("Once upon a time") && r.stdout.length > 60, r.stdout);
});

/** Bad recipes, written beside the scratch folder's model copy; each must exit 2 naming the field and the expectation. */
const BAD: [string, string, RegExp][] = [
  ["unknown key", `model: "stories15M", sampling: { temperature: 0 }, maxToken: 8`, /^bad\.ts: recipe: unknown key "maxToken" \(expected one of: model, .*maxTokens/],
  ["wrong type", `model: "stories15M", sampling: { temperature: "0" }`, /^bad\.ts: sampling: temperature must be a finite number >= 0, got "0"$/m],
  ["missing model", `sampling: { temperature: 0 }`, /^bad\.ts: model: missing \(expected a known model name \(stories15M\), a GGUF path relative to the recipe/],
  ["missing model file", `model: "./nowhere.gguf"`, /^bad\.ts: model\.file: expected a GGUF file, but .*nowhere\.gguf does not exist$/m],
  ["sha256 mismatch", `model: { name: "stories15M", sha256: "${"0".repeat(64)}" }`, /^bad\.ts: model\.sha256: expected 0{64}, but .*stories15M-f32\.gguf has sha256 f51f2fd3[0-9a-f]{56}$/m],
];

for (const [what, body, message] of BAD) {
  test(`a recipe with this problem exits 2 naming the field: ${what}`, { skip: what.startsWith("sha256") ? noShared : false }, async () => {
    const file = path.join(scratch.dir, "bad.ts");
    writeFileSync(file, `import { defineRecipe } from "infer-repl";\nexport default defineRecipe(import.meta, { ${body} });\n`);
    const r = await runTsx(file, ["Once upon a time"], "", env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, "");
  });
}

test("a recipe run without a prompt and with empty stdin exits 2", async () => {
  const r = await runTsx(recipe("story-greedy.ts"), [], "", env);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "story-greedy.ts: no prompt: give it as an argument or pipe prompts on stdin, one per line\n");
});
