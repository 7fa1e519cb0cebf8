import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRecipeConfig, RecipeError } from "../../core/recipe-schema.ts";

const base = "/recipes";

/** The RecipeError message parseRecipeConfig gives for `input`. */
function failure(input: unknown): string {
  try {
    parseRecipeConfig(input, base);
  } catch (e) {
    assert.ok(e instanceof RecipeError, `expected a RecipeError, got ${String(e)}`);
    assert.equal(e.name, "RecipeError");
    return e.message;
  }
  assert.fail("the recipe was accepted");
}

test("a model string is a cache name when known, otherwise a path relative to the recipe's folder", () => {
  assert.deepEqual(parseRecipeConfig({ model: "stories15M" }, base).model, { name: "stories15M" });
  assert.deepEqual(parseRecipeConfig({ model: "../models/x.gguf" }, base).model, { file: "/models/x.gguf" });
  assert.deepEqual(parseRecipeConfig({ model: { file: "x.gguf", sha256: "a".repeat(64) } }, base).model, { file: "/recipes/x.gguf", sha256: "a".repeat(64) });
  assert.deepEqual(parseRecipeConfig({ model: { file: "/abs/x.gguf" } }, base).model, { file: "/abs/x.gguf" });
});

test("every field is carried through unchanged", () => {
  const input = {
    model: { name: "stories15M" },
    threads: 2, contextSize: 256, kv: { blockSize: 32, type: "f32" as const, memoryMiB: 64 },
    batching: { maxSeqs: 4, maxBatchTokens: 128, maxWaitMs: 5 },
    sampling: { temperature: 0.7, topK: 20, logitBias: { 13: -Infinity }, seed: 3 },
    maxTokens: 32, stop: ["\n\n"], addSpecial: false, chat: { system: "Be brief." },
  };
  assert.deepEqual(parseRecipeConfig(input, base), input);
});

test("unknown keys are named, with the keys that were expected there", () => {
  assert.match(failure({ model: "stories15M", temprature: 1 }), /^recipe: unknown key "temprature" \(expected one of: model, threads, .*sampling/);
  assert.match(failure({ model: "stories15M", batching: { maxSeq: 4 } }), /^batching: unknown key "maxSeq" \(expected one of: maxSeqs, maxBatchTokens, maxWaitMs\)$/);
  assert.match(failure({ model: "stories15M", sampling: { top_p: 0.9 } }), /^sampling: unknown sampling option "top_p" \(known: temperature, /);
  assert.match(failure({ model: "stories15M", earlyExit: [{ layer: 2, threshold: 0.9, x: 1 }] }), /^earlyExit\.0: unknown key "x" \(expected one of: layer, threshold\)$/);
});

test("wrong types and values name the field, what was expected and what was given", () => {
  assert.equal(failure({ model: "stories15M", sampling: { temperature: "hot" } }), `sampling: temperature must be a finite number >= 0, got "hot"`);
  assert.equal(failure({ model: "stories15M", maxTokens: "64" }), `maxTokens: expected a number, got a string "64"`);
  assert.equal(failure({ model: "stories15M", threads: 1.5 }), "threads: expected an integer, got number 1.5");
  assert.match(failure({ model: "stories15M", contextSize: 0 }), /^contextSize: Too small: expected number to be >=1, got number 0$/);
  assert.equal(failure({ model: "stories15M", kv: { type: "q8_0" } }), `kv.type: expected one of "f16", "f32", got a string "q8_0"`);
  assert.equal(failure({ model: "stories15M", stop: "\n" }), `stop: expected an array, got a string "\\n"`);
  assert.equal(failure({ model: "stories15M", stop: [""] }), `stop.0: Too small: expected string to have >=1 characters, got a string ""`);
  assert.match(failure({ model: 42 }), /^model: expected a known model name \(stories15M\), a GGUF path relative to the recipe, .*got number 42$/);
  assert.match(failure({ model: { name: "llama-70b" } }), /^model\.name: expected a known model name \(stories15M\) or an http\(s\) URL, got a string "llama-70b"$/);
  assert.match(failure({ model: { file: "x.gguf", sha256: "abc" } }), /^model\.sha256: expected 64 hexadecimal digits, got a string "abc"$/);
  assert.equal(failure("stories15M"), `recipe: expected an object, got a string "stories15M"`);
});

test("a missing model is named as missing", () => {
  assert.match(failure({ sampling: { temperature: 0 } }), /^model: missing \(expected a known model name/);
});

test("several problems are all reported, one per line", () => {
  const lines = failure({ model: "stories15M", maxTokens: -1, kv: { blockSize: "16" } }).split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^kv\.blockSize: /);
  assert.match(lines[1]!, /^maxTokens: /);
});

test("speculative decoding and early exit: the engine's options, the draft model resolved like the model", () => {
  const spec = (speculative: unknown) => parseRecipeConfig({ model: "stories15M", speculative }, base).speculative;
  assert.deepEqual(spec({ mode: "draft", draft: "d.gguf", k: 4 }), { mode: "draft", draft: "/recipes/d.gguf", k: 4 });
  assert.deepEqual(spec({ mode: "draft", draft: "stories15M" }), { mode: "draft", draft: "stories15M" });
  assert.deepEqual(spec({ mode: "self", layers: 3 }), { mode: "self", layers: 3 });
  assert.deepEqual(spec({ mode: "ngram", k: 8 }), { mode: "ngram", k: 8 });
  assert.deepEqual(parseRecipeConfig({ model: "stories15M", earlyExit: [{ layer: 3, threshold: 0.9 }] }, base).earlyExit, [{ layer: 3, threshold: 0.9 }]);
  assert.match(failure({ model: "stories15M", speculative: { mode: "magic" } }), /^speculative\.mode: expected "draft", "ngram" or "self", got a string "magic"/);
  assert.match(failure({ model: "stories15M", speculative: { mode: "draft" } }), /^speculative\.draft: missing/);
  assert.match(failure({ model: "stories15M", speculative: { mode: "self" } }), /^speculative\.layers: missing/);
  assert.match(failure({ model: "stories15M", speculative: { mode: "ngram", draft: "d.gguf" } }), /^speculative: unknown key "draft"/);
  assert.match(failure({ model: "stories15M", earlyExit: [{ layer: 3, threshold: 1.5 }] }), /^earlyExit\.0\.threshold: Too big/);
});

test("grammar and schema: checked when the recipe loads, read from a file relative to the recipe", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const path = await import("node:path");
  const dir = mkdtempSync(path.join(tmpdir(), "recipe-grammar-"));
  try {
    writeFileSync(path.join(dir, "yes.gbnf"), 'root ::= "yes" | "no"\n');
    assert.equal(parseRecipeConfig({ model: "stories15M", grammar: { file: "yes.gbnf" } }, dir).grammar, 'root ::= "yes" | "no"\n');
    assert.equal(parseRecipeConfig({ model: "stories15M", grammar: 'root ::= "a"' }, base).grammar, 'root ::= "a"');
    const schema = { type: "object", properties: { a: { type: "integer" } } };
    assert.deepEqual(parseRecipeConfig({ model: "stories15M", schema }, base).schema, schema);
    assert.match(failure({ model: "stories15M", grammar: 'root ::= "a' }), /^grammar: grammar line 1, column 10: unterminated string literal/);
    assert.match(failure({ model: "stories15M", grammar: { file: "absent.gbnf" } }), /grammar\.file: cannot read .*absent\.gbnf/);
    assert.match(failure({ model: "stories15M", schema: { type: "array", uniqueItems: true } }), /^schema: #: keyword "uniqueItems" cannot be enforced/);
    assert.match(failure({ model: "stories15M", schema: 3 }), /schema: expected a JSON Schema object or a zod schema/);
    assert.match(failure({ model: "stories15M", grammar: 'root ::= "a"', schema: {} }), /give one of them/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
