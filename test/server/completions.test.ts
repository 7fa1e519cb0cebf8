import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { noShared } from "../helpers/index.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let t: TestServer;
before(async () => {
  if (!noShared) t = await startTestServer();
});
after(() => t?.close());

const PROMPT = "Once upon a time";

test("greedy completion text equals engine.generate's, with usage figures", { skip: noShared }, async () => {
  const r = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 24, temperature: 0 });
  const direct = await t.engine.generate(PROMPT, { temperature: 0, maxTokens: 24 });
  assert.equal(r.choices[0]!.text, direct.text);
  assert.equal(r.choices[0]!.finish_reason, "length");
  assert.equal(r.object, "text_completion");
  assert.deepEqual(
    { prompt: r.usage!.prompt_tokens, completion: r.usage!.completion_tokens, total: r.usage!.total_tokens },
    { prompt: direct.promptTokens.length, completion: 24, total: direct.promptTokens.length + 24 },
  );
});

test("a streamed completion carries the same text, a finish reason, and usage when asked", { skip: noShared }, async () => {
  const whole = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 20, temperature: 0 });
  const stream = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = "", finish: string | null = null, usage;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, whole.choices[0]!.text);
  assert.equal(finish, "length");
  assert.equal(usage?.completion_tokens, 20);
  assert.equal(usage?.prompt_tokens, whole.usage!.prompt_tokens);
});

test("stop strings end the text before them, with finish_reason stop", { skip: noShared }, async () => {
  const free = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 32, temperature: 0 });
  const text = free.choices[0]!.text;
  const at = text.indexOf(" ", 10);
  const stop = text.slice(at, at + 5);
  assert.equal(stop.length, 5, `a stop string from ${JSON.stringify(text)}`);
  const r = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 32, temperature: 0, stop: [stop, "zzzz"] });
  assert.equal(r.choices[0]!.text, text.slice(0, text.indexOf(stop)));
  assert.equal(r.choices[0]!.finish_reason, "stop");
  const streamed = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 32, temperature: 0, stop, stream: true });
  let s = "";
  for await (const chunk of streamed) s += chunk.choices.map((c) => c.text).join("");
  assert.equal(s, r.choices[0]!.text);
});

test("n > 1 gives n choices; a seed makes sampling reproducible, streamed or not", { skip: noShared }, async () => {
  const ask = (seed: number) => t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 24, temperature: 1, top_p: 0.95, n: 3, seed });
  const [a, b, c] = [await ask(7), await ask(7), await ask(8)];
  assert.deepEqual(a.choices.map((x) => x.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((x) => x.text), b.choices.map((x) => x.text));
  assert.notDeepEqual(a.choices.map((x) => x.text), c.choices.map((x) => x.text));
  assert.ok(new Set(a.choices.map((x) => x.text)).size > 1, "choices of one request sample differently");
  const stream = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 24, temperature: 1, top_p: 0.95, n: 3, seed: 7, stream: true });
  const texts = ["", "", ""];
  for await (const chunk of stream) for (const ch of chunk.choices) texts[ch.index] += ch.text;
  assert.deepEqual(texts, a.choices.map((x) => x.text));
});

test("several prompts in one request, and token-id prompts", { skip: noShared }, async () => {
  const ids = Array.from(t.engine.tokenize(PROMPT));
  const r = await t.client().completions.create({ model: "stories", prompt: [PROMPT, "The dog"], max_tokens: 8, temperature: 0, n: 2 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(r.choices[0]!.text, r.choices[1]!.text);
  assert.notEqual(r.choices[0]!.text, r.choices[2]!.text);
  const byIds = await t.client().completions.create({ model: "stories", prompt: ids, max_tokens: 8, temperature: 0 });
  assert.equal(byIds.choices[0]!.text, r.choices[0]!.text);
});

test("logprobs: the chosen token's log-probability and the top alternatives (greedy: the best)", { skip: noShared }, async () => {
  const r = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 6, temperature: 0, logprobs: 3 });
  const lp = r.choices[0]!.logprobs!;
  assert.equal(lp.tokens!.length, 6);
  assert.equal(lp.tokens!.join(""), r.choices[0]!.text);
  for (let i = 0; i < 6; i++) {
    const top = Object.values(lp.top_logprobs![i]!);
    assert.equal(top.length, 3);
    assert.ok(lp.token_logprobs![i]! <= 0);
    assert.equal(lp.token_logprobs![i], Math.max(...top), "greedy picks the most likely token");
  }
  const plain = await t.client().completions.create({ model: "stories", prompt: PROMPT, max_tokens: 6, temperature: 0 });
  assert.equal(plain.choices[0]!.text, r.choices[0]!.text, "asking for logprobs does not change the text");
});

test("a prompt seen before reports its cached tokens", { skip: noShared }, async () => {
  const long = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends every day.";
  await t.client().completions.create({ model: "stories", prompt: long, max_tokens: 2, temperature: 0 });
  const again = await t.client().completions.create({ model: "stories", prompt: long, max_tokens: 2, temperature: 0 });
  const cached = again.usage!.prompt_tokens_details!.cached_tokens!;
  assert.ok(cached >= 16 && cached < again.usage!.prompt_tokens, `cached_tokens ${cached} of ${again.usage!.prompt_tokens}`);
});
