import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { downloadFile, DownloadError, type DownloadProgress } from "../../../core/models/download.ts";
import { closedPortUrl, startFileServer } from "./file-server.ts";

const body = randomBytes(300_000);
const sha256 = createHash("sha256").update(body).digest("hex");
const noRetry = { retries: 0 };

function tempDest(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-dl-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "sub", "model.gguf");
}

test("downloads with progress, checks the hash and renames the part into place", async (t) => {
  const server = await startFileServer({ "/m": { body } });
  t.after(() => server.close());
  const dest = tempDest(t);
  const progress: DownloadProgress[] = [];
  const result = await downloadFile(`${server.base}/m`, dest, { sha256, size: body.length, onProgress: (p) => progress.push(p) });
  assert.deepEqual(result, { path: dest, sha256, size: body.length, resumedFrom: 0 });
  assert.ok(readFileSync(dest).equals(body));
  assert.ok(!existsSync(`${dest}.part`));
  assert.deepEqual(progress[0], { received: 0, total: body.length });
  assert.deepEqual(progress.at(-1), { received: body.length, total: body.length });
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.received >= progress[i - 1]!.received);
});

test("a cut connection keeps the part; the next call resumes it with a Range request", async (t) => {
  const cut = 100_000;
  const server = await startFileServer({ "/m": { body, cutAfter: (n) => (n === 0 ? cut : undefined) } });
  t.after(() => server.close());
  const dest = tempDest(t);
  await assert.rejects(downloadFile(`${server.base}/m`, dest, { sha256, ...noRetry }), (e: unknown) => e instanceof DownloadError && e.retryable);
  assert.equal(readFileSync(`${dest}.part`).length, cut);
  assert.ok(!existsSync(dest));

  const progress: DownloadProgress[] = [];
  const result = await downloadFile(`${server.base}/m`, dest, { sha256, ...noRetry, onProgress: (p) => progress.push(p) });
  assert.equal(result.resumedFrom, cut);
  assert.deepEqual(server.ranges.get("/m"), ["", `bytes=${cut}-`]);
  assert.deepEqual(progress[0], { received: cut, total: body.length });
  assert.ok(readFileSync(dest).equals(body));
});

test("retries within one call resume after a cut", async (t) => {
  const server = await startFileServer({ "/m": { body, cutAfter: (n) => (n < 2 ? 50_000 : undefined) } });
  t.after(() => server.close());
  const dest = tempDest(t);
  const result = await downloadFile(`${server.base}/m`, dest, { sha256, retries: 2, retryDelayMs: 0 });
  assert.deepEqual(server.ranges.get("/m"), ["", "bytes=50000-", "bytes=100000-"]);
  assert.equal(result.resumedFrom, 100_000);
  assert.ok(readFileSync(dest).equals(body));
});

test("a wrong checksum deletes the download and says what was expected", async (t) => {
  const wrong = Buffer.from(body);
  wrong[1234]! ^= 1;
  const server = await startFileServer({ "/m": { body: wrong } });
  t.after(() => server.close());
  const dest = tempDest(t);
  await assert.rejects(downloadFile(`${server.base}/m`, dest, { sha256, retries: 3, retryDelayMs: 0 }), (e: unknown) =>
    e instanceof DownloadError && !e.retryable && e.message.includes(`expected ${sha256}`) && /sha256 mismatch/.test(e.message));
  assert.equal(server.ranges.get("/m")!.length, 1, "a checksum failure is not retried");
  assert.ok(!existsSync(dest));
  assert.ok(!existsSync(`${dest}.part`));
});

test("the hash covers the resumed bytes: a corrupt part is caught", async (t) => {
  const server = await startFileServer({ "/m": { body } });
  t.after(() => server.close());
  const dest = tempDest(t);
  mkdirSync(path.dirname(dest), { recursive: true });
  writeFileSync(`${dest}.part`, Buffer.alloc(1000, 7));
  await assert.rejects(downloadFile(`${server.base}/m`, dest, { sha256, ...noRetry }), /sha256 mismatch/);
  assert.deepEqual(server.ranges.get("/m"), ["bytes=1000-"]);
  assert.ok(!existsSync(`${dest}.part`));
});

test("a server that ignores Range sends the whole file, which replaces the part", async (t) => {
  const server = await startFileServer({ "/m": { body, ignoreRange: true } });
  t.after(() => server.close());
  const dest = tempDest(t);
  mkdirSync(path.dirname(dest), { recursive: true });
  writeFileSync(`${dest}.part`, body.subarray(0, 5000));
  const result = await downloadFile(`${server.base}/m`, dest, { sha256, ...noRetry });
  assert.equal(result.resumedFrom, 0);
  assert.ok(readFileSync(dest).equals(body));
});

test("a part that is already complete is verified without downloading again (416)", async (t) => {
  const server = await startFileServer({ "/m": { body } });
  t.after(() => server.close());
  const dest = tempDest(t);
  mkdirSync(path.dirname(dest), { recursive: true });
  writeFileSync(`${dest}.part`, body);
  const result = await downloadFile(`${server.base}/m`, dest, { sha256, ...noRetry });
  assert.equal(result.resumedFrom, body.length);
  assert.ok(readFileSync(dest).equals(body));
});

test("follows redirects", async (t) => {
  const server = await startFileServer({ "/real": { body } }, { "/m": "/real" });
  t.after(() => server.close());
  const dest = tempDest(t);
  await downloadFile(`${server.base}/m`, dest, { sha256, ...noRetry });
  assert.ok(readFileSync(dest).equals(body));
});

test("HTTP 404 fails at once with the status; a wrong size is rejected", async (t) => {
  const server = await startFileServer({ "/m": { body } });
  t.after(() => server.close());
  const dest = tempDest(t);
  await assert.rejects(downloadFile(`${server.base}/missing`, dest, { retries: 3, retryDelayMs: 0 }), /HTTP 404/);
  await assert.rejects(downloadFile(`${server.base}/m`, dest, { size: 123, ...noRetry }), /server reports 300000 bytes, expected 123/);
  await assert.rejects(downloadFile("ftp://127.0.0.1/x", dest), /unsupported protocol 'ftp:'/);
});

test("a stalled server times out and keeps the part", async (t) => {
  const server = await startFileServer({ "/m": { body, stallAfter: () => 1000 } });
  t.after(() => server.close());
  const dest = tempDest(t);
  await assert.rejects(downloadFile(`${server.base}/m`, dest, { idleTimeoutMs: 300, ...noRetry }), (e: unknown) =>
    e instanceof DownloadError && e.retryable);
  assert.equal(readFileSync(`${dest}.part`).length, 1000);
});

test("an abort stops the download and is not retried", async (t) => {
  const server = await startFileServer({ "/m": { body, stallAfter: () => 1000 } });
  t.after(() => server.close());
  const dest = tempDest(t);
  const controller = new AbortController();
  const pending = downloadFile(`${server.base}/m`, dest, {
    signal: controller.signal, retries: 3, retryDelayMs: 0,
    onProgress: (p) => { if (p.received >= 1000) controller.abort(); },
  });
  await assert.rejects(pending, { name: "AbortError" });
  assert.equal(server.ranges.get("/m")!.length, 1);
});

test("an unreachable host fails at once instead of retrying", async (t) => {
  const dest = tempDest(t);
  const started = Date.now();
  await assert.rejects(downloadFile(`${await closedPortUrl()}/m`, dest, { retries: 3, retryDelayMs: 60_000 }), (e: unknown) =>
    e instanceof DownloadError && !e.retryable && /ECONNREFUSED/.test(e.message));
  assert.ok(Date.now() - started < 60_000, "no retry delay was waited");
});
