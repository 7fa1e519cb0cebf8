import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { jsonSchemaToGbnf } from "../../../../core/sampling/grammar/json-schema.ts";
import { parseGbnf } from "../../../../core/sampling/grammar/gbnf.ts";
import { SchemaError } from "../../../../core/sampling/grammar/errors.ts";
import { Engine } from "../../../../core/index.ts";
import { noShared, sharedModel } from "../../../helpers/index.ts";

test("keywords a grammar cannot enforce are errors naming the keyword and where it is", () => {
  const cases: [unknown, RegExp][] = [
    [{ type: "array", uniqueItems: true }, /#: keyword "uniqueItems"/],
    [{ type: "object", properties: { a: { type: "number", multipleOf: 3 } } }, /#\/properties\/a: keyword "multipleOf"/],
    [{ type: "object", minProperties: 1 }, /keyword "minProperties"/],
    [{ type: "array", contains: { type: "integer" } }, /keyword "contains"/],
    [{ if: { type: "string" }, then: { maxLength: 2 } }, /keyword "if"/],
    [{ not: { type: "null" } }, /keyword "not"/],
    [{ type: "string", format: "hostname" }, /format "hostname" cannot be enforced/],
    [{ type: "string", pattern: "^(?=a)b$" }, /lookaround/],
    [{ type: "string", pattern: "^(a)\\1$" }, /backreference/],
    [{ type: "string", pattern: "\\bword" }, /word boundary/],
    [{ type: "string", pattern: "a", minLength: 2 }, /pattern.*together with minLength/],
    [{ $ref: "https://example.com/s.json" }, /not a local reference/],
    [{ $ref: "#/$defs/missing" }, /does not resolve/],
    [{ type: "integer", minimum: 5, maximum: 4 }, /no integer lies within/],
    [{ type: "strnig" }, /unknown type "strnig"/],
    [false, /allows no value/],
    [{ allOf: [{ type: "string" }, { type: "integer" }] }, /have no value in common/],
  ];
  for (const [schema, message] of cases) {
    assert.throws(() => jsonSchemaToGbnf(schema), (e: unknown) => e instanceof SchemaError && message.test(e.message), JSON.stringify(schema));
  }
});

test("annotations are accepted and every produced grammar parses", () => {
  const g = jsonSchemaToGbnf({ $schema: "https://json-schema.org/draft/2020-12/schema", title: "t", description: "d", examples: [1], default: 2, type: "integer" });
  assert.doesNotThrow(() => parseGbnf(g));
});

test("integer ranges: exactly the integers in bounds", async () => {
  const { Grammar } = await import("../../../../core/sampling/grammar/grammar.ts");
  // A vocabulary of single characters: accepting a string = walking it character by character.
  const chars = [..."-0123456789 "];
  const vocab = { vocabSize: chars.length + 1, piece: (id: number) => new TextEncoder().encode(chars[id] ?? "</s>"), isEndOfGeneration: (id: number) => id === chars.length };
  const accepts = (g: InstanceType<typeof Grammar>, text: string) => {
    let s: ReturnType<typeof g.next> = g.initialState;
    for (const c of text) if (!(s = g.next(s!, chars.indexOf(c)))) return false;
    return g.canEnd(s!);
  };
  for (const [lo, hi] of [[-120, 35], [7, 1203], [0, 0], [-5, -1], [99, 101]] as const) {
    const g = new Grammar(jsonSchemaToGbnf({ type: "integer", minimum: lo, maximum: hi }), vocab);
    for (let v = lo - 30; v <= hi + 30; v++) assert.equal(accepts(g, String(v)), v >= lo && v <= hi, `${v} in [${lo}, ${hi}]`);
    assert.equal(accepts(g, "007"), false);
  }
});

test("generate({ schema }) returns the value parsed by the zod schema, typed", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories15M-q8_0.gguf"), threads: 2 });
  try {
    const Pet = z.object({ name: z.string().max(10), kind: z.enum(["cat", "dog"]), age: z.number().int().min(0).max(20), id: z.uuid() });
    const r = await engine.generate("Once upon a time", { schema: Pet, temperature: 0.8, seed: 5, maxTokens: 64 });
    const pet: { name: string; kind: "cat" | "dog"; age: number; id: string } = r.value;
    assert.deepEqual(Pet.parse(JSON.parse(r.text)), pet);
    assert.throws(() => engine.generate("x", { schema: z.object({ when: z.date() }) }), (e: unknown) => e instanceof SchemaError && /zod cannot express/.test(e.message));
    assert.throws(() => engine.generate("x", { jsonSchema: {}, grammar: 'root ::= "a"' }), /one of grammar, jsonSchema and schema/);
  } finally {
    engine.close();
  }
});
