import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { noShared, sharedModel } from "../helpers/index.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-grammar-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const model = sharedModel("stories15M-q8_0.gguf");
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

const bad: [string, string[], RegExp][] = [
  ["a malformed grammar", ["--grammar", file("bad.gbnf", 'root ::= "a" |\n  item\nitem ::= [a-')], /--grammar .*bad\.gbnf: grammar line 3, column 10: unterminated character class/],
  ["a grammar file that is missing", ["--grammar", path.join(dir, "absent.gbnf")], /--grammar: cannot read .*absent\.gbnf: ENOENT/],
  ["a schema keyword that cannot be enforced", ["--json-schema", '{"type":"array","uniqueItems":true}'], /--json-schema: #: keyword "uniqueItems" cannot be enforced/],
  ["an unknown schema keyword", ["--json-schema", file("s.json", '{"type":"object","patternProperties":{}}')], /keyword "patternProperties" cannot be enforced/],
  ["a schema that is not JSON", ["--json-schema", "{type: object}"], /--json-schema: not valid JSON/],
  ["both at once", ["--grammar", file("ok.gbnf", 'root ::= "a"'), "--json-schema", "{}"], /--grammar or --json-schema, not both/],
];

for (const [name, args, message] of bad) {
  test(`generate exits 2 on ${name}`, { skip: noShared }, async () => {
    const r = await runCli(["generate", "-m", model, "-p", "Hi", ...args]);
    assert.equal(r.code, 2, `exit code ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });
}

test("generate --json-schema prints JSON valid against the schema; --grammar follows the grammar", { skip: noShared }, async () => {
  const schema = { type: "object", properties: { name: { type: "string", maxLength: 12 }, age: { type: "integer", minimum: 1, maximum: 9 } }, required: ["name", "age"] };
  const r = await runCli(["generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "-n", "40", "--json", "--json-schema", JSON.stringify(schema)]);
  assert.equal(r.code, 0, r.stderr);
  const value = JSON.parse(JSON.parse(r.stdout).text) as { name: string; age: number };
  assert.equal(typeof value.name, "string");
  assert.ok(value.name.length <= 12 && Number.isInteger(value.age) && value.age >= 1 && value.age <= 9, JSON.stringify(value));

  const g = await runCli(["-m", model, "--temp", "0", "-n", "30", "--grammar", file("yn.gbnf", 'root ::= ("yes" | "no") ", " [a-z ]+ "."')], "Once upon a time\nThe dog\n");
  assert.equal(g.code, 0, g.stderr);
  const lines = g.stdout.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 2);
  for (const [i, prompt] of ["Once upon a time", "The dog"].entries()) {
    assert.match(lines[i]!.slice(prompt.length), /^(yes|no), [a-z ]+\.?$/);
  }
});
