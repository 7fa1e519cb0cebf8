import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { prepareRecipeFolder } from "../../cli/recipe-folder.ts";
import { Engine, recipeConfigFromOptions, renderRecipe, sha256File } from "infer-repl";
import { runCommand, runNode } from "../helpers/cli.ts";
import { noShared, repoRoot, sharedModel } from "../helpers/index.ts";
import { recipeEnv } from "../helpers/recipes.ts";

// Recipes exported to a folder outside the project, as a user's would be: no package.json, no node_modules.
const scratch = mkdtempSync(path.join(tmpdir(), "infer-repl-recipe-folder-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
const env = recipeEnv(path.join(scratch, "cache"));
const built = existsSync(path.join(repoRoot, "dist/core/index.js"));

test("an exported recipe names a known model by name and sha256 and runs outside the project with npx tsx and infer-repl run", { skip: noShared }, async () => {
  const model = sharedModel("stories15M-f32.gguf");
  const config = recipeConfigFromOptions({ model }, { temperature: 0, maxTokens: 12 }, { sha256: await sha256File(model) });
  const dir = path.join(scratch, "exported");
  mkdirSync(dir);
  const file = path.join(dir, "story.ts");
  const source = renderRecipe(config, {}, file);
  assert.match(source, /model: \{ name: "stories15M", sha256: "f51f2fd3[0-9a-f]{56}" \}/, "the model by its cache name, not a path");
  assert.doesNotMatch(source, /\.gguf/);
  writeFileSync(file, source);
  const engine = await Engine.load({ model });
  const expected = `Once upon a time${(await engine.generate("Once upon a time", { temperature: 0, maxTokens: 12 })).text}\n`;
  engine.close();

  // infer-repl run, from a third folder: "infer-repl" resolves to the running CLI, with nothing beside the recipe.
  const elsewhere = mkdtempSync(path.join(scratch, "cwd-"));
  const viaRun = await runNode([path.join(repoRoot, "bin/infer-repl.mjs"), "run", file, "Once upon a time"], "", env, elsewhere);
  assert.equal(viaRun.code, 0, viaRun.stderr);
  assert.equal(viaRun.stdout, expected);

  assert.deepEqual(prepareRecipeFolder(dir).sort(), ["node_modules/.bin/tsx", "node_modules/infer-repl", "package.json"]);
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")), { private: true, type: "module" });
  assert.deepEqual(prepareRecipeFolder(dir), [], "a prepared folder needs nothing more");
  // npx tsx resolves infer-repl through the package's exports, the build: without dist/ (npm run build) it is not tried.
  if (!built) return;
  // npx tsx, as the REPL's hint says, offline (npm's `yes` off: npx may not fetch anything).
  const viaNpx = await runCommand("npx", ["--no", "tsx", "story.ts", "Once upon a time"], "", env, dir);
  assert.equal(viaNpx.code, 0, viaNpx.stderr);
  assert.equal(viaNpx.stdout, expected);
});

test("prepareRecipeFolder leaves a folder alone where infer-repl and tsx already resolve and .ts files are ES modules", () => {
  const dir = path.join(repoRoot, "recipes");
  assert.deepEqual(prepareRecipeFolder(dir), []);
});

test("in a CommonJS folder infer-repl run still runs a recipe (an ES module); tsx says why it cannot, and the fix", { skip: noShared }, async () => {
  const dir = mkdtempSync(path.join(scratch, "cjs-"));
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "commonjs" }));
  const file = path.join(dir, "story.ts");
  writeFileSync(file, `import { defineRecipe } from "infer-repl";\nexport default defineRecipe(import.meta, { model: "stories15M", sampling: { temperature: 0 }, maxTokens: 4 });\n`);
  const viaRun = await runNode([path.join(repoRoot, "bin/infer-repl.mjs"), "run", file, "Once upon a time"], "", env, dir);
  assert.equal(viaRun.code, 0, viaRun.stderr);
  assert.match(viaRun.stdout, /^Once upon a time, there was/);
  assert.deepEqual(prepareRecipeFolder(dir).sort(), ["node_modules/.bin/tsx", "node_modules/infer-repl"], "its package.json is left as it is");
  if (!built) return;
  const viaNpx = await runCommand("npx", ["--no", "tsx", "story.ts", "Hi"], "", env, dir);
  assert.equal(viaNpx.code, 2, viaNpx.stderr);
  assert.match(viaNpx.stderr, /import\.meta has no url: the recipe was compiled as CommonJS \(name it \.mts, or put "type": "module" in its package\.json\)/);
});
