import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import { noShared } from "../helpers/index.ts";
import { startTestServer } from "../helpers/server.ts";

test("with keys: no key -> 401, wrong key -> 401, right key -> 200; /health and /metrics need the key too", { skip: noShared }, async () => {
  const t = await startTestServer({ apiKeys: ["first-key", "second-key"] });
  try {
    const ask = (key: string) => t.client(key).completions.create({ model: "stories", prompt: "Hi", max_tokens: 2, temperature: 0 });
    const status = async (p: Promise<unknown>) => p.then(() => 200, (e: unknown) => (e instanceof OpenAI.APIError ? e.status : -1));
    assert.equal(await status(ask("wrong-key")), 401);
    assert.equal(await status(ask("first-key!")), 401);
    assert.equal(await status(ask("first-key")), 200);
    assert.equal(await status(ask("second-key")), 200);
    const none = await fetch(`${t.url}/v1/models`);
    assert.equal(none.status, 401);
    assert.equal((await none.json() as { error: { type: string } }).error.type, "authentication_error");
    assert.equal((await fetch(`${t.url}/health`)).status, 401);
    assert.equal((await fetch(`${t.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${t.url}/v1/infer-repl/configure`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })).status, 401);
    const auth = { authorization: "Bearer second-key" };
    assert.equal((await fetch(`${t.url}/health`, { headers: auth })).status, 200);
    assert.equal((await fetch(`${t.url}/metrics`, { headers: auth })).status, 200);
  } finally {
    await t.close();
  }
});

test("--metrics-public opens /health and /metrics only; no CORS headers are sent", { skip: noShared }, async () => {
  const t = await startTestServer({ apiKeys: ["k"], metricsPublic: true });
  try {
    const health = await fetch(`${t.url}/health`, { headers: { origin: "http://example.test" } });
    assert.equal(health.status, 200);
    assert.equal(health.headers.get("access-control-allow-origin"), null);
    assert.equal((await fetch(`${t.url}/metrics`)).status, 200);
    assert.equal((await fetch(`${t.url}/v1/models`)).status, 401);
  } finally {
    await t.close();
  }
});
