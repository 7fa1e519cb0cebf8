import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseGbnf, El } from "../../../../core/sampling/grammar/gbnf.ts";
import { GrammarError } from "../../../../core/sampling/grammar/errors.ts";
import { repoRoot } from "../../../helpers/index.ts";

const grammarsDir = path.join(repoRoot, "node_modules/node-llama-cpp/llama/grammars");

test("every grammar file llama.cpp ships parses", () => {
  const files = readdirSync(grammarsDir).filter((f) => f.endsWith(".gbnf"));
  for (const want of ["json.gbnf", "arithmetic.gbnf", "list.gbnf", "chess.gbnf", "c.gbnf", "japanese.gbnf"]) assert.ok(files.includes(want), want);
  for (const f of files) {
    const g = parseGbnf(readFileSync(path.join(grammarsDir, f), "utf8"));
    assert.equal(g.names[g.root], "root", f);
    for (const rule of g.rules) assert.equal(rule[rule.length - 2], El.END, f);
  }
});

test("repetitions are rewritten as llama.cpp rewrites them", () => {
  // a{2,3} -> a a a_1 with a_1 ::= a | (one optional copy)
  const g = parseGbnf('root ::= "a"{2,3}');
  assert.deepEqual(g.rules[0], [El.CHAR, 97, El.CHAR, 97, El.RULE_REF, 1, El.END, 0]);
  assert.deepEqual(g.rules[1], [El.CHAR, 97, El.ALT, 0, El.END, 0]);
  // x* -> x_1 ::= x x_1 |
  const star = parseGbnf("root ::= [a-c]*");
  assert.deepEqual(star.rules[1], [El.CHAR, 97, El.CHAR_RNG_UPPER, 99, El.RULE_REF, 1, El.ALT, 0, El.END, 0]);
});

test("escapes, negated classes, any-char and token references parse", () => {
  const g = parseGbnf('root ::= "\\x41\\u00e9\\n" [^"\\\\] . <[5]> !<[6]>');
  assert.deepEqual(g.rules[0], [El.CHAR, 0x41, El.CHAR, 0xe9, El.CHAR, 10, El.CHAR_NOT, 34, El.CHAR_ALT, 92, El.CHAR_ANY, 0, El.TOKEN, 5, El.TOKEN_NOT, 6, El.END, 0]);
  const named = parseGbnf("root ::= <hi>", { tokenId: (t) => (t === "<hi>" ? 7 : undefined) });
  assert.deepEqual(named.rules[0], [El.TOKEN, 7, El.END, 0]);
});

test("malformed grammars fail with the line and column of the problem", () => {
  const cases: [string, RegExp][] = [
    ['root ::= "a"\nitem ::= [a-', /line 2, column 10: unterminated character class/],
    ["root ::= item\n", /line 1, column 10: undefined rule 'item'/],
    ['item ::= "a"', /does not define the start symbol 'root'/],
    ['root ::= "a\\q"', /line 1, column 12: unknown escape/],
    ["root = \"a\"", /line 1, column 6: expecting ::=/],
    ['root ::= ("a"', /line 1, column 14: expecting '\)'/],
    ['root ::= "a"{3,2}', /maximum below its minimum/],
    ["root ::= *", /expecting an item before/],
    ["root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]", /rule 'expr' is left-recursive/],
    ["root ::= <hi>", /needs a model vocabulary/],
    ['root ::= "a"{2001}', /more than 2000 repetitions/],
  ];
  for (const [src, pattern] of cases) {
    assert.throws(() => parseGbnf(src), (e: unknown) => e instanceof GrammarError && pattern.test(e.message), src);
  }
});
