import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { noShared, repoRoot, sharedModel } from "../helpers/index.ts";
import { scratchDir } from "../helpers/recipes.ts";

/** Starts `infer-repl serve ARGS` on a free port; resolves with its URL once it says it is ready. */
function serve(args: string[]): Promise<{ url: string; stop: () => Promise<number | null>; stderr: () => string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, "bin/infer-repl.mjs"), "serve", "--port", "0", ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      const ready = /ready: (http:\/\/[\d.:]+)\/v1/.exec(stderr);
      if (ready) resolve({ url: ready[1]!, stderr: () => stderr, stop: () => (child.kill("SIGTERM"), exited) });
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}) before it was ready: ${stderr}`)));
  });
}

test("serve -m with keys, -np and --metrics: 401 without the key, 200 with it, batching from -np; SIGTERM exits 0", { skip: noShared }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-serve-"));
  const keyFile = path.join(dir, "keys.txt");
  writeFileSync(keyFile, "from-file\n\n");
  const s = await serve(["-m", sharedModel("stories260K.gguf"), "-np", "3", "--api-key", "k1", "--api-key-file", keyFile, "--metrics", "-t", "1"]);
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/, "binds 127.0.0.1 by default");
    assert.equal((await fetch(`${s.url}/health`)).status, 401);
    for (const key of ["k1", "from-file"]) {
      const r = await fetch(`${s.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(r.status, 200);
      const models = (await r.json()) as { data: { id: string; batching: { maxSeqs: number } }[] };
      assert.equal(models.data[0]!.id, "stories260K");
      assert.equal(models.data[0]!.batching.maxSeqs, 3);
    }
    assert.equal((await fetch(`${s.url}/metrics`, { headers: { authorization: "Bearer k1" } })).status, 200);
  } finally {
    assert.equal(await s.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("serve RECIPE.ts serves the recipe's model under the recipe's name, with its defaults", { skip: noShared }, async () => {
  const { dir, cleanup } = scratchDir(); // recipes import "infer-repl", which resolves inside the repository
  const recipe = path.join(dir, "tiny-story.ts");
  writeFileSync(recipe, `import { defineRecipe } from "infer-repl";
export default defineRecipe(import.meta, { model: { file: ${JSON.stringify(sharedModel("stories260K.gguf"))} }, sampling: { temperature: 0 }, maxTokens: 5, threads: 1 });
`);
  const s = await serve([recipe]);
  try {
    const r = await fetch(`${s.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "tiny-story", prompt: "Once" }) });
    const body = (await r.json()) as { model: string; usage: { completion_tokens: number } };
    assert.equal(r.status, 200);
    assert.equal(body.model, "tiny-story");
    assert.equal(body.usage.completion_tokens, 5, "the recipe's maxTokens");
  } finally {
    assert.equal(await s.stop(), 0);
    cleanup();
  }
});

test("serve without a model, with a missing recipe, or an unreadable key file exits 2", async () => {
  const none = await runCli(["serve"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /needs a model/);
  const missing = await runCli(["serve", "nope.ts"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such recipe file/);
  if (!noShared) {
    const keys = await runCli(["serve", "-m", sharedModel("stories260K.gguf"), "--api-key-file", "/nonexistent/keys"]);
    assert.equal(keys.code, 2);
    assert.match(keys.stderr, /--api-key-file/);
  }
});

test("serve --replica-id names the replica; SIGTERM drains: the running stream finishes whole, then exit 0", { skip: noShared }, async () => {
  const s = await serve(["-m", sharedModel("stories15M-q8_0.gguf"), "--replica-id", "r-1", "-t", "1", "--drain-timeout", "60"]);
  let code: number | null = null;
  try {
    const r = await fetch(`${s.url}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 120, logit_bias: { "2": -100 }, stream: true }),
    });
    assert.equal(r.headers.get("x-infer-repl-replica"), "r-1");
    const reader = r.body!.getReader();
    await reader.read(); // streaming now
    const exited = s.stop();
    const decoder = new TextDecoder();
    let body = "";
    for (let x = await reader.read(); !x.done; x = await reader.read()) body += decoder.decode(x.value, { stream: true });
    assert.match(body, /"finish_reason":"length"/);
    assert.match(body, /data: \[DONE\]\n\n$/);
    code = await exited;
    assert.match(s.stderr(), /draining: 1 running request/);
    assert.match(s.stderr(), /drained/);
  } finally {
    code ??= await s.stop();
  }
  assert.equal(code, 0);
});
