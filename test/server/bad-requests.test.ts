import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { noShared } from "../helpers/index.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let t: TestServer;
before(async () => {
  if (!noShared) t = await startTestServer();
});
after(() => t?.close());

async function post(path: string, body: string): Promise<{ status: number; error: { message: string; param: string | null } }> {
  const r = await fetch(t.url + path, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: r.status, error: ((await r.json()) as { error: { message: string; param: string | null } }).error };
}

const CASES: [string, string, unknown, string | null, RegExp?][] = [
  ["completions: max_tokens below 1", "/v1/completions", { prompt: "x", max_tokens: 0 }, "max_tokens"],
  ["completions: temperature a string", "/v1/completions", { prompt: "x", temperature: "hot" }, "temperature"],
  ["completions: top_p above 1", "/v1/completions", { prompt: "x", top_p: 1.5 }, "top_p"],
  ["completions: no prompt", "/v1/completions", { max_tokens: 3 }, "prompt"],
  ["completions: prompt a number", "/v1/completions", { prompt: 5 }, "prompt", /expected a string/],
  ["completions: token id outside the vocabulary", "/v1/completions", { prompt: [1, 99999] }, "prompt", /out of range/],
  ["completions: n zero", "/v1/completions", { prompt: "x", n: 0 }, "n"],
  ["completions: logit_bias key not a token id", "/v1/completions", { prompt: "x", logit_bias: { abc: 1 } }, "logit_bias.abc"],
  ["completions: logit_bias token out of range", "/v1/completions", { prompt: "x", logit_bias: { "40000": 1 } }, "logit_bias", /out of range/],
  ["completions: echo", "/v1/completions", { prompt: "x", echo: true }, "echo"],
  ["completions: unknown model", "/v1/completions", { prompt: "x", model: "gpt-4" }, "model"],
  ["chat: messages missing", "/v1/chat/completions", { max_tokens: 3 }, "messages"],
  ["chat: empty messages", "/v1/chat/completions", { messages: [] }, "messages"],
  ["chat: bad role", "/v1/chat/completions", { messages: [{ role: "wizard", content: "x" }] }, "messages.0.role"],
  ["chat: an empty stop string", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], stop: "" }, "stop"],
  ["chat: stop of numbers", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], stop: [1, 2] }, "stop"],
  ["chat: tools not an array", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], tools: { name: "f" } }, "tools", /expected an array/],
  ["chat: a tool without a name", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: {} }] }, "tools.0.function.name"],
  ["chat: a tool's parameters the grammar cannot enforce", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f", parameters: { type: "array", uniqueItems: true } } }] }, "tools.0.function.parameters", /uniqueItems/],
  ["chat: tool_choice naming an unknown function", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } }, "tool_choice.function.name", /"g" is not one of the tools/],
  ["chat: tool_choice required without tools", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], tool_choice: "required" }, "tool_choice"],
  ["chat: a malformed tool call in the history", "/v1/chat/completions", { messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c1" }] }] }, "messages.0.tool_calls.0.function"],
  ["chat: the legacy functions API", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], functions: [{ name: "f" }] }, "functions"],
  ["chat: top_logprobs without logprobs", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], top_logprobs: 2 }, "top_logprobs"],
  ["configure: unknown field", "/v1/infer-repl/configure", { max_seqz: 3 }, null, /max_seqz/],
  ["configure: max_seqs zero", "/v1/infer-repl/configure", { max_seqs: 0 }, "max_seqs"],
];

for (const [name, path, body, param, message] of CASES) {
  test(`400 naming the field: ${name}`, { skip: noShared }, async () => {
    const r = await post(path, JSON.stringify(body));
    assert.equal(r.status, name.includes("unknown model") ? 404 : 400, r.error.message);
    assert.equal(r.error.param, param);
    if (message) assert.match(r.error.message, message);
  });
}

test("bodies that are not JSON objects get 400, and the server keeps serving", { skip: noShared }, async () => {
  for (const body of ["{bad json", "[1, 2]", "null", "\"text\"", "{\"prompt\": \"x\", \"max_tokens\": 1e999}"]) {
    const r = await post("/v1/completions", body);
    assert.equal(r.status, 400, body);
  }
  const ok = await t.client().completions.create({ model: "stories", prompt: "x", max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
});

test("a body is read as JSON whatever its content type says; one that is not JSON is 400", { skip: noShared }, async () => {
  const asText = await fetch(`${t.url}/v1/completions`, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ prompt: "x", max_tokens: 1 }) });
  assert.equal(asText.status, 200);
  const form = await fetch(`${t.url}/v1/completions`, { method: "POST", body: new URLSearchParams({ prompt: "x" }) });
  assert.equal(form.status, 400);
  assert.match(((await form.json()) as { error: { message: string } }).error.message, /not valid JSON/);
  const none = await fetch(`${t.url}/v1/completions`, { method: "POST" });
  assert.equal(none.status, 400);
});

test("a prompt longer than the context is the client's 400", { skip: noShared }, async () => {
  const r = await post("/v1/completions", JSON.stringify({ prompt: Array(3000).fill(100), max_tokens: 1 }));
  assert.equal(r.status, 400);
  assert.match(r.error.message, /context/);
});
