import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Ajv } from "ajv";
import OpenAI from "openai";
import { Engine } from "../../core/engine.ts";
import { createServer, type InferServer } from "../../server/app.ts";
import { skipNoVocabs } from "../core/tokenizer/fixtures.ts";
import { noShared } from "../helpers/index.ts";
import { TOOL_MODELS, TWO_TOOLS } from "../helpers/tool-models.ts";

// The acceptance: through the openai client against the server, a request with two tools and
// tool_choice "required" returns a valid call for every template family, streamed and not. The models are random
// (real vocabularies and chat templates): only the grammar makes their output a call.

const skip = noShared || skipNoVocabs;
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-server-tools-"));
let server: InferServer;
let client: OpenAI;

before(async () => {
  if (skip) return;
  server = createServer({
    models: TOOL_MODELS.map((m) => {
      const file = path.join(dir, `${m.name}.gguf`);
      m.write(file);
      return { id: m.name, load: () => Engine.load({ model: file, threads: 2, contextSize: 2048, kvMemoryMiB: 24 }) };
    }),
  });
  const { url } = await server.listen(0);
  await server.models.ready();
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0 });
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ajv = new Ajv();
const validArguments = new Map(TWO_TOOLS.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const MESSAGES = [{ role: "user" as const, content: "What is the weather in Paris, and the time in Tokyo?" }];

function assertValid(calls: { id: string; function: { name: string; arguments: string } }[] | undefined, what: string): void {
  assert.ok(calls && calls.length >= 1, `${what}: no tool_calls`);
  for (const c of calls) {
    assert.ok(c.id.length >= 9, `${what}: id ${c.id}`);
    const valid = validArguments.get(c.function.name);
    assert.ok(valid, `${what}: unknown tool ${c.function.name}`);
    assert.ok(valid(JSON.parse(c.function.arguments)), `${what}: ${c.function.arguments}: ${JSON.stringify(valid.errors)}`);
  }
}

for (const m of TOOL_MODELS) {
  test(`${m.name} (${m.family}): two tools, tool_choice required: a valid call, streamed and not`, { skip }, async () => {
    const request = { model: m.name, messages: MESSAGES, tools: TWO_TOOLS, tool_choice: "required" as const, max_tokens: 120, temperature: 0 };
    const whole = await client.chat.completions.create(request);
    const choice = whole.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, null);
    assertValid(choice.message.tool_calls as never, `${m.name} whole`);

    const stream = await client.chat.completions.create({ ...request, stream: true });
    const calls: { id: string; function: { name: string; arguments: string } }[] = [];
    let finish: string | null = null, content = "";
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      content += c.delta.content ?? "";
      for (const d of c.delta.tool_calls ?? []) {
        if (d.id !== undefined) {
          assert.equal(calls[d.index], undefined, "a call's id and name come once, in its first delta");
          calls[d.index] = { id: d.id, function: { name: d.function!.name!, arguments: "" } };
        }
        calls[d.index]!.function.arguments += d.function?.arguments ?? "";
      }
      finish = c.finish_reason ?? finish;
    }
    assert.equal(finish, "tool_calls");
    assert.equal(content, "");
    assertValid(calls, `${m.name} streamed`);
    // Greedy both times: the same calls (the ids are new each time).
    assert.deepEqual(calls.map((c) => c.function), choice.message.tool_calls!.map((c) => (c as { function: unknown }).function));

    // The call and its result go back in the history; the model's own template renders them.
    const first = choice.message.tool_calls![0]! as { id: string; type: "function"; function: { name: string; arguments: string } };
    const next = await client.chat.completions.create({
      model: m.name, max_tokens: 3, temperature: 0, tools: TWO_TOOLS,
      messages: [...MESSAGES, { role: "assistant", content: null, tool_calls: [first] }, { role: "tool", tool_call_id: first.id, content: "{\"ok\": true}" }],
    });
    assert.ok(next.usage!.prompt_tokens > whole.usage!.prompt_tokens);
  });
}
