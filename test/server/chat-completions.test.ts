import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Engine } from "../../core/engine.ts";
import { createServer } from "../../server/app.ts";
import { noShared } from "../helpers/index.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { writeSyntheticModel } from "../helpers/synthetic-model.ts";

let t: TestServer;
before(async () => {
  if (!noShared) t = await startTestServer();
});
after(() => t?.close());

const MESSAGES = [{ role: "system" as const, content: "Tell a story." }, { role: "user" as const, content: "A dog and a cat." }];
const CHATML = "<|im_start|>system\nTell a story.<|im_end|>\n<|im_start|>user\nA dog and a cat.<|im_end|>\n<|im_start|>assistant\n";

test("a model without a chat template answers chat with ChatML, as llama-server does, and /v1/models says so", { skip: noShared }, async () => {
  const r = await t.client().chat.completions.create({ model: "stories", messages: MESSAGES, max_tokens: 16, temperature: 0 });
  const direct = await t.engine.generate(CHATML, { temperature: 0, maxTokens: 16, parseSpecial: true });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0]!.message.role, "assistant");
  assert.equal(r.choices[0]!.message.content, direct.text);
  assert.equal(r.usage!.prompt_tokens, direct.promptTokens.length);
  assert.equal(r.usage!.completion_tokens, direct.tokens.length);
  const models = await t.client().models.list();
  assert.equal((models.data[0] as unknown as { chat_template: string }).chat_template, "chatml");
});

test("streamed chat: a role delta first, content deltas equal to the whole answer, usage last", { skip: noShared }, async () => {
  const whole = await t.client().chat.completions.create({ messages: MESSAGES, max_tokens: 16, temperature: 0, model: "stories" });
  const stream = await t.client().chat.completions.create({ messages: MESSAGES, max_tokens: 16, temperature: 0, model: "stories", stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks[0]!.choices[0]!.delta.role, "assistant");
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), whole.choices[0]!.message.content);
  assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, whole.choices[0]!.finish_reason);
  assert.deepEqual(chunks.at(-1)!.choices, []);
  assert.equal(chunks.at(-1)!.usage!.total_tokens, whole.usage!.total_tokens);
});

test("chat n > 1 with a seed is reproducible; logprobs list each token with its alternatives", { skip: noShared }, async () => {
  const ask = () => t.client().chat.completions.create({ messages: MESSAGES, max_tokens: 12, temperature: 0.9, n: 2, seed: 3, model: "stories" });
  const [a, b] = [await ask(), await ask()];
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
  const lp = await t.client().chat.completions.create({ messages: MESSAGES, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 2, model: "stories" });
  const content = lp.choices[0]!.logprobs!.content!;
  assert.equal(content.length, 5);
  assert.equal(content.map((c) => c.token).join(""), lp.choices[0]!.message.content);
  for (const c of content) {
    assert.equal(c.top_logprobs.length, 2);
    assert.equal(c.logprob, c.top_logprobs[0]!.logprob);
    assert.deepEqual(c.bytes, [...Buffer.from(c.token)]);
  }
});

test("a model's own chat template renders the conversation, and /v1/models names it", { skip: noShared }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-serve-chat-"));
  const model = path.join(dir, "chat.gguf");
  const template = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}[assistant]";
  writeSyntheticModel(model, { architecture: "llama", nEmbd: 32, nLayer: 1, nHead: 2, nHeadKv: 2, nFf: 64, extraMetadata: [["tokenizer.chat_template", template]] });
  const s = createServer({ models: [{ id: "synthetic", load: () => Engine.load({ model, threads: 1 }) }] });
  try {
    const { url } = await s.listen(0);
    const [engine] = await s.models.ready();
    const models = await (await fetch(`${url}/v1/models`)).json() as { data: { chat_template: string }[] };
    assert.equal(models.data[0]!.chat_template, "model");
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "Hi" }], max_tokens: 4, temperature: 0 }),
    });
    const body = await r.json() as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number } };
    const direct = await engine!.generate("<s>[user] Hi\n[assistant]", { temperature: 0, maxTokens: 4, addSpecial: false, parseSpecial: true });
    assert.equal(body.choices[0]!.message.content, direct.text);
    assert.equal(body.usage.prompt_tokens, direct.promptTokens.length);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
