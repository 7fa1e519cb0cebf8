import assert from "node:assert/strict";
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
