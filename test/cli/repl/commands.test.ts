import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { COMMANDS, complete, parseCommand, splitArgs } from "../../../cli/repl/commands.ts";

test("parseCommand: names, unique prefixes, arguments, and clear errors", () => {
  assert.deepEqual(parseCommand(":set temp 0"), { name: "set", args: "temp 0" });
  assert.deepEqual(parseCommand(":sh"), { name: "show", args: "" });
  assert.deepEqual(parseCommand(":export recipe  a.ts "), { name: "export", args: "recipe  a.ts" });
  assert.throws(() => parseCommand(":s"), /':s' is ambiguous: :set, :show, :spec, :system, :save/);
  assert.throws(() => parseCommand(":zap"), /unknown command ':zap'/);
  assert.throws(() => parseCommand(":"), /type a command after ':'/);
});

test("the brief's commands all exist", () => {
  const names = COMMANDS.map((c) => c.name);
  for (const n of ["load", "set", "show", "batch", "spec", "exit-early", "parallel", "bench", "ppl", "save", "open", "export", "quit", "help"]) assert.ok(names.includes(n), n);
});

test("complete: commands, setting keys, recipe, and paths", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "repl-complete-"));
  writeFileSync(path.join(dir, "story.txt"), "");
  writeFileSync(path.join(dir, "story.gguf"), "");
  mkdirSync(path.join(dir, "sessions"));
  assert.deepEqual(complete(":lo", dir), { line: ":load ", candidates: [] });
  assert.deepEqual(complete(":s", dir), { line: ":s", candidates: [":set", ":show", ":spec", ":system", ":save"] });
  assert.deepEqual(complete(":set top", dir), { line: ":set top-", candidates: ["top-k", "top-p"] });
  assert.deepEqual(complete(":set min", dir), { line: ":set min-p ", candidates: [] });
  assert.deepEqual(complete(":export re", dir), { line: ":export recipe ", candidates: [] });
  assert.deepEqual(complete(":ppl st", dir), { line: ":ppl story.", candidates: ["story.gguf", "story.txt"] });
  assert.deepEqual(complete(":open se", dir), { line: ":open sessions/", candidates: [] });
  assert.deepEqual(complete(":export recipe se", dir), { line: ":export recipe sessions/", candidates: [] });
  assert.deepEqual(complete("a prompt", dir), { line: "a prompt", candidates: [] });
});

test("splitArgs keeps quoted strings whole", () => {
  assert.deepEqual(splitArgs('recipe "my file.ts" -n 3'), ["recipe", "my file.ts", "-n", "3"]);
});
