import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { noShared } from "../helpers/index.ts";
import { recipeEnv, runTsx, scratchDir } from "../helpers/recipes.ts";

const scratch = scratchDir();
after(() => scratch.cleanup());
const env = recipeEnv(path.join(scratch.dir, "cache"));

test("infer-repl run RECIPE TEXT prints what tsx RECIPE TEXT prints", { skip: noShared }, async () => {
  const viaCli = await runCli(["run", "recipes/story-greedy.ts", "Once", "upon", "a", "time"], "", env);
  assert.equal(viaCli.code, 0, viaCli.stderr);
  const viaTsx = await runTsx("recipes/story-greedy.ts", ["Once upon a time"], "", env);
  assert.equal(viaCli.stdout, viaTsx.stdout);
  assert.ok(viaCli.stdout.startsWith("Once upon a time, there was"), viaCli.stdout);
});

test("infer-repl run RECIPE reads one prompt per stdin line", { skip: noShared }, async () => {
  const r = await runCli(["run", "recipes/story-greedy.ts"], "Once upon a time\nThe cat\n", env);
  assert.equal(r.code, 0, r.stderr);
  const blocks = r.stdout.trimEnd().split("\n\n");
  assert.equal(blocks.length, 2);
  assert.ok(blocks[0]!.startsWith("Once upon a time") && blocks[1]!.startsWith("The cat"));
});

test("infer-repl run exits 2 for a bad recipe, a module that is not a recipe, or no file", async () => {
  const bad = path.join(scratch.dir, "self-without-layers.ts");
  writeFileSync(bad, `import { defineRecipe } from "infer-repl";\nexport default defineRecipe(import.meta, { model: "stories15M", speculative: { mode: "self" } });\n`);
  const spec = await runCli(["run", bad, "Hi"], "", env);
  assert.equal(spec.code, 2);
  assert.match(spec.stderr, /^infer-repl: .*self-without-layers\.ts: speculative\.layers: missing/);
  const notRecipe = await runCli(["run", "core/index.ts", "Hi"], "", env);
  assert.equal(notRecipe.code, 2);
  assert.match(notRecipe.stderr, /core\/index\.ts: the default export is not a recipe \(expected export default defineRecipe\(import\.meta, \{ \.\.\. \}\)\)/);
  const missing = await runCli(["run", "recipes/nope.ts"], "", env);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /recipes\/nope\.ts: no such recipe file/);
});
