import assert from "node:assert/strict";
import { hostname } from "node:os";
import { test } from "node:test";
import { Engine } from "../../core/engine.ts";
import { createServer } from "../../server/app.ts";
import { noShared, sharedModel } from "../helpers/index.ts";
import { metric, startTestServer, type TestServer } from "../helpers/server.ts";

const metrics = async (t: TestServer) => (await fetch(`${t.url}/metrics`)).text();

/** Polls /metrics until `done` holds (the engine finishes aborted sequences at its next step). */
async function until(t: TestServer, done: (text: string) => boolean): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const text = await metrics(t);
    if (done(text)) return text;
    await new Promise((r) => setTimeout(r, 25));
  }
  return metrics(t);
}

/** Starts a streaming completion and resolves once its first content chunk arrived; abort() disconnects. */
async function openStream(t: TestServer, body: object): Promise<AbortController> {
  const controller = new AbortController();
  const r = await fetch(`${t.url}/v1/completions`, {
    method: "POST", headers: { "content-type": "application/json" }, signal: controller.signal,
    // EOS banned, so no stream ends on its own before the test is done with it.
    body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 1500, temperature: 0.8, logit_bias: { "2": -100 }, stream: true, ...body }),
  });
  assert.equal(r.status, 200);
  const reader = r.body!.getReader();
  await reader.read(); // the first event
  return controller;
}

test("clients that disconnect mid-stream free their blocks at once: /metrics back at the initial free count", { skip: noShared }, async () => {
  const t = await startTestServer();
  try {
    const initial = await metrics(t);
    const freeAtStart = metric(initial, "infer_repl_kv_blocks", { state: "free" });
    assert.equal(freeAtStart, metric(initial, "infer_repl_kv_blocks_total"));
    const streams = await Promise.all([0, 1, 2, 3].map(() => openStream(t, {})));
    const nonStreaming = new AbortController();
    const pending = fetch(`${t.url}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" }, signal: nonStreaming.signal,
      body: JSON.stringify({ prompt: "The dog", max_tokens: 1500, n: 2, logit_bias: { "2": -100 } }),
    }).catch(() => "aborted");
    const busy = await until(t, (m) => metric(m, "infer_repl_requests_running") === 6);
    assert.ok(metric(busy, "infer_repl_kv_blocks", { state: "used" }) > 0);
    for (const s of streams) s.abort();
    nonStreaming.abort();
    assert.equal(await pending, "aborted");
    const after = await until(t, (m) => metric(m, "infer_repl_requests_running") === 0);
    assert.equal(metric(after, "infer_repl_kv_blocks", { state: "used" }), 0);
    assert.equal(metric(after, "infer_repl_kv_blocks", { state: "free" }), freeAtStart);
    assert.equal(metric(after, "infer_repl_requests_total", { outcome: "aborted" }), 6);
    assert.ok(metric(after, "infer_repl_generated_tokens_total") < 6 * 1500, "the aborted choices stopped early");
  } finally {
    await t.close();
  }
});

test("a full queue answers 503 with Retry-After; configure changes batching live", { skip: noShared }, async () => {
  const t = await startTestServer({ maxQueue: 1 });
  try {
    const set = await fetch(`${t.url}/v1/infer-repl/configure`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ max_seqs: 1 }) });
    assert.deepEqual(((await set.json()) as { batching: { maxSeqs: number } }).batching.maxSeqs, 1);
    assert.equal(t.engine.batching.maxSeqs, 1);
    const running = await openStream(t, {}); // holds the one slot
    const queuedAbort = new AbortController();
    const queued = fetch(`${t.url}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" }, signal: queuedAbort.signal, body: JSON.stringify({ prompt: "x", max_tokens: 2 }),
    }).catch(() => "aborted");
    await until(t, (m) => metric(m, "infer_repl_requests_waiting") === 1);
    const refused = await fetch(`${t.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "x", max_tokens: 2 }) });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    queuedAbort.abort();
    running.abort();
    assert.equal(await queued, "aborted");
  } finally {
    await t.close();
  }
});

test("/health answers 503 while the model loads, then 200; requests meanwhile get 503", { skip: noShared }, async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const s = createServer({ models: [{ id: "m", load: async () => { await gate; return Engine.load({ model: sharedModel("stories260K.gguf"), threads: 1 }); } }] });
  try {
    const { url } = await s.listen(0);
    const loading = await fetch(`${url}/health`);
    assert.equal(loading.status, 503);
    assert.deepEqual(await loading.json(), { status: "loading" });
    const early = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "x" }) });
    assert.equal(early.status, 503);
    release();
    await s.models.ready();
    assert.equal((await fetch(`${url}/health`)).status, 200);
  } finally {
    await s.close();
  }
});

test("/metrics exposes queues, tokens, latency histograms, KV blocks, prefix cache, preemptions and speculation", { skip: noShared }, async () => {
  const t = await startTestServer();
  try {
    await t.client().completions.create({ model: "stories", prompt: "Once upon a time", max_tokens: 8, stream: false });
    const text = await metrics(t);
    for (const name of [
      "infer_repl_requests_running", "infer_repl_requests_waiting", "infer_repl_request_prompt_tokens_total", "infer_repl_request_completion_tokens_total",
      "infer_repl_time_to_first_token_seconds_bucket", "infer_repl_inter_token_seconds_bucket", "infer_repl_kv_blocks", "infer_repl_prefix_cache_hit_rate",
      "infer_repl_preemptions_total", "infer_repl_speculative_acceptance_rate", "infer_repl_step_forward_seconds_bucket",
    ]) assert.match(text, new RegExp(`^# TYPE ${name.replace(/_bucket$/, "")} `, "m"), name);
    assert.equal(metric(text, "infer_repl_request_completion_tokens_total"), 8);
    assert.equal(metric(text, "infer_repl_time_to_first_token_seconds_count"), 1);
    assert.equal(metric(text, "infer_repl_inter_token_seconds_count"), 7);
  } finally {
    await t.close();
  }
});

/** Reads the rest of a stream's body. */
async function restOf(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for (let x = await reader.read(); !x.done; x = await reader.read()) text += decoder.decode(x.value, { stream: true });
  return text;
}

/** A streamed response's events: content chunks, whether [DONE] came, the last finish reason, an error event. */
function readEvents(body: string): { texts: number; done: boolean; finish: string | null; error: unknown } {
  const out = { texts: 0, done: false, finish: null as string | null, error: undefined as unknown };
  for (const event of body.split("\n\n")) {
    const data = event.replace(/^data: /, "");
    if (data === "[DONE]") out.done = true;
    else if (data !== "") {
      const chunk = JSON.parse(data) as { choices?: { text: string; finish_reason: string | null }[]; error?: unknown };
      if (chunk.error) out.error = chunk.error;
      for (const c of chunk.choices ?? []) {
        if (c.text !== "") out.texts++;
        if (c.finish_reason) out.finish = c.finish_reason;
      }
    }
  }
  return out;
}

test("every response names its replica (x-infer-repl-replica): given, or HOSTNAME:PORT by default", { skip: noShared }, async () => {
  const named = await startTestServer({ replicaId: "replica-7" });
  try {
    const json = await fetch(`${named.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "Once", max_tokens: 2 }) });
    assert.equal(json.headers.get("x-infer-repl-replica"), "replica-7");
    const streamed = await fetch(`${named.url}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content: "Hi" }], max_tokens: 2, stream: true }),
    });
    assert.equal(streamed.headers.get("x-infer-repl-replica"), "replica-7");
    assert.equal(readEvents(await streamed.text()).done, true);
    const missing = await fetch(`${named.url}/nowhere`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("x-infer-repl-replica"), "replica-7");
  } finally {
    await named.close();
  }
  const unnamed = await startTestServer();
  try {
    const port = new URL(unnamed.url).port;
    assert.equal((await fetch(`${unnamed.url}/health`)).headers.get("x-infer-repl-replica"), `${hostname()}:${port}`);
  } finally {
    await unnamed.close();
  }
});

test("drain: /health and new requests get 503 at once, a running stream finishes whole, then the server closes", { skip: noShared }, async () => {
  const t = await startTestServer();
  const r = await fetch(`${t.url}/v1/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 200, temperature: 0.8, logit_bias: { "2": -100 }, stream: true }),
  });
  const reader = r.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /^data: /);
  const drained = t.server.drain(30_000);
  const health = await t.server.app.inject({ method: "GET", url: "/health" });
  assert.equal(health.statusCode, 503);
  assert.deepEqual(health.json(), { status: "draining" });
  const refused = await t.server.app.inject({ method: "POST", url: "/v1/completions", payload: { prompt: "x", max_tokens: 2 } });
  assert.equal(refused.statusCode, 503);
  assert.match(refused.json<{ error: { message: string } }>().error.message, /draining/);
  await assert.rejects(fetch(`${t.url}/health`), "the listener is closed: new connections are refused");
  const rest = readEvents(await restOf(reader));
  assert.deepEqual({ done: rest.done, finish: rest.finish, error: rest.error }, { done: true, finish: "length", error: undefined });
  assert.equal(await drained, true);
  assert.equal(t.server.activity().active, 0);
});

test("drain is bounded: a stream still running at the timeout is cut and drain resolves false", { skip: noShared }, async () => {
  const t = await startTestServer();
  const stream = await openStream(t, {});
  void stream; // cut by the drain, not by the test
  const started = performance.now();
  assert.equal(await t.server.drain(300), false);
  assert.ok(performance.now() - started < 5000);
});

test("a streamed request sends no byte (not even its headers) before its first token, so a proxy may still retry it", { skip: noShared }, async () => {
  const t = await startTestServer();
  try {
    t.engine.configure({ maxSeqs: 1 });
    const running = await openStream(t, {}); // holds the one slot
    let answered = false;
    const queued = fetch(`${t.url}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "Hi" }], max_tokens: 3, stream: true }),
    }).then((r) => ((answered = true), r));
    await until(t, (m) => metric(m, "infer_repl_requests_waiting") === 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answered, false, "no headers while waiting for admission");
    running.abort();
    const body = await (await queued).text();
    assert.match(body, /^data: \{[^\n]*"role":"assistant"/, "the role delta comes first, with the first token");
    assert.equal(readEvents(body).done, true);
  } finally {
    await t.close();
  }
});
