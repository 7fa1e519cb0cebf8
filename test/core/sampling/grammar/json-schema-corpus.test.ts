import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { Engine } from "../../../../core/index.ts";
import type { GenerateOptions } from "../../../../core/generation.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { after } from "node:test";
import { noShared, sharedDir, sharedModel } from "../../../helpers/index.ts";
import { writeSyntheticModel } from "../../../helpers/synthetic-model.ts";

// The corpus: JSON Schemas shaped like real API payloads, covering every keyword the converter supports. Each
// is enforced on stories15M (a model that knows nothing of JSON) at temperature 0 and 1, alone and batched (all
// schemas' requests at once, 32 sequences a step), with and without n-gram speculation; every output must parse
// and validate (ajv, formats included), and greedy output must not depend on batching or speculation.
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "schemas");
const corpus = readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((f) => ({ name: f, schema: JSON.parse(readFileSync(path.join(dir, f), "utf8")) as object }));

// Both are CommonJS modules whose default export Node and TypeScript see differently.
type AjvClass = typeof import("ajv/dist/2020.js").default;
type AddFormats = typeof import("ajv-formats").default;
const Ajv2020 = ((Ajv2020Module as unknown as { default?: AjvClass }).default ?? Ajv2020Module) as AjvClass;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as AddFormats;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

const MAX_TOKENS = 96;
const PROMPT = "Once upon a time, the data was:";

test("the corpus holds at least 40 schemas", () => assert.ok(corpus.length >= 40, `${corpus.length} schemas`));

/** stories15M, and a Qwen2.5-shaped synthetic model (random weights) with the qwen2 byte-level BPE vocabulary
 *  (151,936 tokens, partial UTF-8 pieces). */
const tmp = mkdtempSync(path.join(tmpdir(), "corpus-qwen2-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const models: [string, () => string][] = [
  ["stories15M", () => sharedModel("stories15M-q8_0.gguf")],
  ["synthetic qwen2 with the qwen2 vocabulary", () => {
    const file = path.join(tmp, "qwen2.gguf");
    writeSyntheticModel(file, { architecture: "qwen2", nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, seed: 5, ropeBase: 1000000, vocabFrom: path.join(sharedDir, "fixtures/vocab/ggml-vocab-qwen2.gguf") });
    return file;
  }],
];

for (const [label, modelFile] of models) test(`every output of every corpus schema parses and validates: ${label}`, { skip: noShared, timeout: 900_000 }, async () => {
  const engine = await Engine.load({ model: modelFile(), threads: 2, maxSeqs: 32 });
  const failures: string[] = [];
  const greedy = new Map<string, string>();
  let outputs = 0;
  const check = async (name: string, schema: object, label: string, options: GenerateOptions): Promise<string> => {
    const validate = ajv.compile(schema);
    const r = await engine.generate(PROMPT, { ...options, jsonSchema: schema, maxTokens: MAX_TOKENS });
    outputs++;
    let value: unknown;
    try {
      value = JSON.parse(r.text);
    } catch {
      failures.push(`${name} ${label}: not JSON (${r.finishReason}): ${r.text}`);
      return r.text;
    }
    assert.deepEqual(r.value, value);
    if (!validate(value)) failures.push(`${name} ${label}: ${ajv.errorsText(validate.errors)}: ${r.text}`);
    return r.text;
  };
  const ngram = { speculative: { mode: "ngram" as const } };
  try {
    // Alone: one sequence at a time.
    for (const { name, schema } of corpus) {
      greedy.set(name, await check(name, schema, "greedy", { temperature: 0 }));
      await check(name, schema, "t=1", { temperature: 1, seed: 11 });
    }
    // Batched: every schema's requests at once, 32 sequences per step, half of them speculating.
    await Promise.all(corpus.flatMap(({ name, schema }) => [
      check(name, schema, "batched greedy", { temperature: 0 }).then((t) => assert.equal(t, greedy.get(name), `${name}: batched greedy differs from alone`)),
      check(name, schema, "batched greedy+ngram", { temperature: 0, ...ngram }).then((t) => assert.equal(t, greedy.get(name), `${name}: speculative greedy differs`)),
      check(name, schema, "batched t=1", { temperature: 1, seed: 21 }),
      check(name, schema, "batched t=1+ngram", { temperature: 1, seed: 22, ...ngram }),
    ]));
  } finally {
    engine.close();
  }
  assert.deepEqual(failures, [], `${failures.length} of ${outputs} outputs invalid`);
});
