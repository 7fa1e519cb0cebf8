import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { compareTable } from "../../../cli/repl/compare.ts";
import { EngineHost } from "../../../cli/repl/engine-host.ts";
import type { Event } from "../../../cli/repl/protocol.ts";
import { noShared, repoRoot, sharedModel } from "../../helpers/index.ts";

// :compare on two recipes: both columns are filled, and at temperature 0 each equals the recipe's own run.
test(":compare runs two recipes on the same prompts; at temperature 0 each column is what the recipe prints on its own", { skip: noShared, timeout: 300_000 }, async (t) => {
  // Inside the repository (tmp/ is git-ignored) so the recipes' `import "infer-repl"` resolves to this checkout.
  const dir = path.join(repoRoot, "tmp", `compare-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const recipe = (name: string, body: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, `import { defineRecipe } from "infer-repl";\nexport default defineRecipe(import.meta, ${body});\n`);
    return file;
  };
  const a = recipe("a.ts", `{ model: { file: ${JSON.stringify(sharedModel("stories15M-q8_0.gguf"))} }, sampling: { temperature: 0 }, maxTokens: 16 }`);
  const b = recipe("b.ts", `{ model: { file: ${JSON.stringify(sharedModel("stories15M-f32.gguf"))} }, sampling: { temperature: 0 }, maxTokens: 20, speculative: { mode: "ngram" } }`);

  const events: Event[] = [];
  let wake = () => {};
  const host = new EngineHost((e) => {
    events.push(e);
    wake();
  });
  const prompts = ["Once upon a time", "The little dog"];
  host.handle({ type: "compare", id: 1, a: { recipe: a }, b: { recipe: b }, prompts, labels: ["a.ts", "b.ts"], width: 100 });
  while (!events.some((e) => e.type === "compare-done" || e.type === "failed")) await new Promise<void>((r) => (wake = r));
  const done = events.find((e) => e.type === "compare-done");
  assert.ok(done && done.type === "compare-done", JSON.stringify(events.find((e) => e.type === "failed")));
  assert.deepEqual(done.rows.map((r) => r.prompt), prompts);
  for (const r of done.rows) {
    assert.ok(r.a.text.length > 0 && r.b.text.length > 0);
    assert.equal(r.a.tokens, 16);
    assert.ok(r.b.acceptRate !== undefined, "b speculates: its acceptance is reported");
  }
  assert.equal(done.adopt[1]!.model, sharedModel("stories15M-f32.gguf"));
  assert.deepEqual(done.adopt[1]!.config, { temp: 0, "n-predict": 20, spec: "ngram" }, ":keep B would adopt b's settings");
  const table = compareTable(done.labels, done.rows, 100);
  assert.match(table, /^a\.ts +│ b\.ts/);
  assert.match(table, /16 tokens · [\d.]+ t\/s +│ \d+ tokens · [\d.]+ t\/s · acceptance \d+%/);

  for (const [file, column] of [[a, "a"], [b, "b"]] as const) {
    const run = spawnSync("npx", ["tsx", file, prompts[0]!], { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, prompts[0] + done.rows[0]![column].text + "\n", `${column}: the recipe's own run`);
  }
});
