import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ajv } from "ajv";
import OpenAI from "openai";
import { noShared } from "../helpers/index.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let t: TestServer;
before(async () => {
  if (!noShared) t = await startTestServer();
});
after(() => t?.close());

const PET = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 12 },
    kind: { enum: ["cat", "dog"] },
    age: { type: "integer", minimum: 0, maximum: 30 },
  },
  required: ["name", "kind", "age"],
  additionalProperties: false,
};
const validPet = new Ajv().compile(PET);
const MESSAGES = [{ role: "user" as const, content: "Describe a pet as JSON." }];
const AS_PET = { type: "json_schema" as const, json_schema: { name: "pet", schema: PET, strict: true } };

function assertPet(text: string): void {
  const value: unknown = JSON.parse(text);
  assert.ok(validPet(value), `${text}: ${JSON.stringify(validPet.errors)}`);
}

test("chat json_schema: the answer parses and validates, streamed or not", { skip: noShared }, async () => {
  const whole = await t.client().chat.completions.create({ model: "stories", messages: MESSAGES, max_tokens: 60, temperature: 0.8, seed: 1, response_format: AS_PET });
  assertPet(whole.choices[0]!.message.content!);
  const stream = await t.client().chat.completions.create({ model: "stories", messages: MESSAGES, max_tokens: 60, temperature: 0.8, seed: 2, response_format: AS_PET, stream: true });
  let text = "";
  for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
  assertPet(text);
});

test("completions json_schema: the text parses and validates, streamed or not, with n > 1", { skip: noShared }, async () => {
  const body = { model: "stories", prompt: "Once upon a time", max_tokens: 60, temperature: 1, seed: 5, n: 2, response_format: AS_PET };
  const whole = await t.client().completions.create(body as OpenAI.CompletionCreateParamsNonStreaming);
  assert.equal(whole.choices.length, 2);
  for (const c of whole.choices) assertPet(c.text);
  const stream = await t.client().completions.create({ ...body, stream: true } as OpenAI.CompletionCreateParamsStreaming);
  const texts = ["", ""];
  for await (const c of stream) for (const ch of c.choices) texts[ch.index] += ch.text;
  texts.forEach(assertPet);
});

test("json_object: the answer is a JSON object, on both routes", { skip: noShared }, async () => {
  const chat = await t.client().chat.completions.create({ model: "stories", messages: MESSAGES, max_tokens: 40, temperature: 0, response_format: { type: "json_object" } });
  const value: unknown = JSON.parse(chat.choices[0]!.message.content!);
  assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), chat.choices[0]!.message.content!);
  const completion = await t.client().completions.create({ model: "stories", prompt: "Data:", max_tokens: 40, temperature: 0, response_format: { type: "json_object" } } as OpenAI.CompletionCreateParamsNonStreaming);
  const parsed: unknown = JSON.parse(completion.choices[0]!.text);
  assert.ok(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed), completion.choices[0]!.text);
  // Without a response_format the same request is free text (the model does not write JSON on its own).
  const free = await t.client().completions.create({ model: "stories", prompt: "Data:", max_tokens: 40, temperature: 0 });
  assert.notEqual(free.choices[0]!.text, completion.choices[0]!.text);
});

test("a schema keyword the grammar cannot enforce is a 400 naming it, before a stream starts", { skip: noShared }, async () => {
  const format = { type: "json_schema" as const, json_schema: { name: "tags", schema: { type: "array", items: { type: "string" }, uniqueItems: true } } };
  const attempts = [
    () => t.client().chat.completions.create({ model: "stories", messages: MESSAGES, max_tokens: 5, response_format: format }),
    () => t.client().chat.completions.create({ model: "stories", messages: MESSAGES, max_tokens: 5, response_format: format, stream: true }),
    () => t.client().completions.create({ model: "stories", prompt: "x", max_tokens: 5, response_format: format } as OpenAI.CompletionCreateParamsNonStreaming),
    () => t.client().completions.create({ model: "stories", prompt: "x", max_tokens: 5, response_format: format, stream: true } as OpenAI.CompletionCreateParamsStreaming),
  ];
  for (const attempt of attempts) {
    await assert.rejects(attempt, (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.equal(e.status, 400);
      assert.match(e.message, /uniqueItems/);
      assert.equal((e.error as { param?: string }).param, "response_format.json_schema.schema");
      return true;
    });
  }
});

test("a malformed response_format is a 400 naming the field, and so are tools combined with it", { skip: noShared }, async () => {
  const post = async (body: unknown) => {
    const r = await fetch(t.url + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, error: ((await r.json()) as { error: { message: string; param: string | null } }).error };
  };
  const bad = await post({ messages: MESSAGES, response_format: { type: "xml" } });
  assert.equal(bad.status, 400);
  assert.match(bad.error.param ?? "", /^response_format/);
  const noName = await post({ messages: MESSAGES, response_format: { type: "json_schema", json_schema: { schema: PET } } });
  assert.equal(noName.status, 400);
  assert.equal(noName.error.param, "response_format.json_schema.name");
  const tools = await post({ messages: MESSAGES, tools: [{ type: "function", function: { name: "f" } }], tool_choice: "required", response_format: AS_PET });
  assert.equal(tools.status, 400);
  assert.equal(tools.error.param, "tool_choice");
  assert.match(tools.error.message, /cannot be combined with a response format/);
});
