import { test } from "node:test";
import assert from "node:assert/strict";
import { applySetting, configFromFlags, generateOptionsOf, batchingOf, loadSettingsOf, SettingError } from "../../../cli/repl/config.ts";

test(":set parses every kind of value and resets with 'default'", () => {
  let c = applySetting({}, "temp", "0");
  c = applySetting(c, "top-k", "1");
  c = applySetting(c, "stop", "\\n\\n");
  c = applySetting(c, "kv-type", "f32");
  c = applySetting(c, "exit-early", "2:0.9, 4:0.8");
  c = applySetting(c, "spec", "self:3");
  assert.deepEqual(c, { temp: 0, "top-k": 1, stop: ["\n\n"], "kv-type": "f32", "exit-early": "2:0.9,4:0.8", spec: "self:3" });
  assert.deepEqual(applySetting(c, "stop", '["a", "The end"]')["stop"], ["a", "The end"]);
  assert.equal("temp" in applySetting(c, "temp", "default"), false);
});

test(":set rejects bad values with a message naming the key and what was expected", () => {
  const cases: [string, string, RegExp][] = [
    ["temp", "hot", /^temp: expected a number from 0 to 100, got 'hot'$/],
    ["top-p", "0", /^top-p: expected a number above 0 and at most 1, got '0'$/],
    ["top-k", "1.5", /^top-k: expected an integer from 0 to/],
    ["seed", "-1", /^seed: expected an integer from 0 to 4294967295/],
    ["n-predict", "0", /^n-predict: expected an integer from 1/],
    ["kv-type", "q4", /^kv-type: expected one of f16, f32, q8_0, got 'q4'$/],
    ["spec", "fast", /^spec: expected ngram, draft or self:L/],
    ["exit-early", "3", /^exit-early: expected "L:T,L:T"/],
    ["stop", "[1]", /^stop: expected a JSON array of non-empty strings$/],
    ["tmep", "1", /^unknown setting 'tmep' \(known: temp, /],
    ["temp", "", /^:set temp needs a value/],
  ];
  for (const [key, value, message] of cases) assert.throws(() => applySetting({}, key, value), (e: Error) => e instanceof SettingError && message.test(e.message), `${key} ${value}`);
});

test("the configuration maps onto generate, batching and load options", () => {
  const c = { temp: 0.5, "top-k": 10, seed: 41, "n-predict": 7, stop: ["x"], "max-seqs": 4, threads: 2, "kv-type": "f32" };
  assert.deepEqual(generateOptionsOf(c, 1), { maxTokens: 7, temperature: 0.5, topK: 10, seed: 42, stop: ["x"] });
  assert.deepEqual(generateOptionsOf({}), { maxTokens: 128 });
  assert.deepEqual(batchingOf(c), { maxSeqs: 4 });
  assert.deepEqual(loadSettingsOf(c), { threads: 2, ctxSize: undefined, kvBlock: undefined, kvType: "f32", draft: undefined });
});

test("speculation and early exit map onto the engine's options; the draft model is a load setting", () => {
  const c = { spec: "self:2", "spec-k": 3, "exit-early": "4:0.8,2:0.9", draft: "d.gguf" };
  assert.deepEqual(generateOptionsOf(c).speculative, { mode: "self", layers: 2, k: 3 });
  assert.deepEqual(generateOptionsOf({ spec: "draft" }).speculative, { mode: "draft" });
  assert.deepEqual(generateOptionsOf(c).earlyExit, [{ layer: 4, threshold: 0.8 }, { layer: 2, threshold: 0.9 }]);
  assert.equal(loadSettingsOf(c).draft, "d.gguf");
  assert.equal("draft" in applySetting(c, "draft", "none"), false);
});

test("CLI flags become the starting configuration (commander defaults are not 'set')", () => {
  assert.deepEqual(configFromFlags({ temp: 0, nPredict: 128, kvBlock: 16, kvType: "f16", bos: true, stop: ["a"], maxWaitMs: 3 }),
    { temp: 0, stop: ["a"], "max-wait-ms": 3 });
  assert.deepEqual(configFromFlags({ spec: { mode: "self", layers: 3 }, specK: 4, earlyExit: [{ layer: 3, threshold: 0.9 }] }),
    { spec: "self:3", "spec-k": 4, "exit-early": "3:0.9" });
  assert.deepEqual(configFromFlags({ draft: "d.gguf" }), { draft: "d.gguf", spec: "draft" }, "--draft alone means --spec draft");
});

test(":set grammar FILE and :set json-schema FILE|JSON: checked when set, read for each prompt, one at a time", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const path = await import("node:path");
  const dir = mkdtempSync(path.join(tmpdir(), "repl-grammar-"));
  try {
    const file = path.join(dir, "g.gbnf");
    writeFileSync(file, 'root ::= "a"+\n');
    let c = applySetting({}, "grammar", file);
    assert.equal(generateOptionsOf(c).grammar, 'root ::= "a"+\n');
    c = applySetting(c, "json-schema", '{"type":"integer"}');
    assert.equal(c["grammar"], undefined, "the schema replaces the grammar");
    assert.deepEqual(generateOptionsOf(c).jsonSchema, { type: "integer" });
    assert.throws(() => applySetting({}, "grammar", path.join(dir, "none.gbnf")), (e: unknown) => e instanceof SettingError && /cannot read/.test(e.message));
    writeFileSync(file, "root ::= [a-");
    assert.throws(() => applySetting({}, "grammar", file), (e: unknown) => e instanceof SettingError && /line 1, column 10/.test(e.message));
    assert.throws(() => applySetting({}, "json-schema", '{"not":{}}'), (e: unknown) => e instanceof SettingError && /keyword "not"/.test(e.message));
    assert.equal(applySetting(c, "json-schema", "off")["json-schema"], undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
