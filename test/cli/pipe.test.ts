import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { noShared, sharedModel } from "../helpers/index.ts";
import { greedyReferences } from "../helpers/reference.ts";

test("pipe mode prints llama.cpp's greedy continuation of 'Once upon a time' (stories15M f32)", { skip: noShared }, async () => {
  const ref = greedyReferences().find((r) => r.model === "stories15M-f32.gguf" && r.prompt === "Once upon a time")!;
  const r = await runCli(["-m", sharedModel("stories15M-f32.gguf"), "--temp", "0", "-n", "64"], "Once upon a time\n");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Once upon a time" + ref.greedyText + "\n");
});

test("pipe mode --jsonl: one object per prompt, in input order", { skip: noShared }, async () => {
  const refs = greedyReferences().filter((r) => r.model === "stories15M-f32.gguf");
  const r = await runCli(["-m", sharedModel("stories15M-f32.gguf"), "--temp", "0", "-n", "16", "--jsonl"], refs.map((x) => x.prompt).join("\n") + "\n");
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, refs.length);
  lines.forEach((obj, i) => {
    assert.equal(obj.prompt, refs[i]!.prompt);
    assert.equal(obj.tokens, 16);
    assert.equal(obj.prompt_tokens, refs[i]!.promptTokens.length);
    assert.equal(obj.finish_reason, "length");
    for (const k of ["text", "ms", "tokens_per_s"]) assert.ok(k in obj, k);
    // The reference is the continuation detokenized alone; ours keeps the space that follows the prompt.
    assert.ok(refs[i]!.greedyText.startsWith(obj.text.trimStart()), `"${obj.text}" is not the start of the reference`);
  });
});

test("seeded sampling prints the same text every time", { skip: noShared }, async () => {
  const args = ["-m", sharedModel("stories260K.gguf"), "--temp", "0.9", "-s", "42", "-n", "32"];
  const [a, b] = await Promise.all([runCli(args, "Once upon a time\n"), runCli(args, "Once upon a time\n")]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
});

test("pipe mode --jsonl with 20 prompts gives 20 objects in input order", { skip: noShared }, async () => {
  const prompts = Array.from({ length: 20 }, (_, i) => `Story number ${i + 1}: once upon a time`);
  const r = await runCli(["-m", sharedModel("stories260K.gguf"), "--temp", "0", "-n", "12", "--jsonl"], prompts.join("\n") + "\n");
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((o) => o.prompt), prompts);
});

test("with no model given, empty model folders and the download host unreachable, the npm copy of stories15M is converted and used", { skip: noShared }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-offline-"));
  try {
    const env = {
      INFER_REPL_CACHE: path.join(dir, "cache"),
      INFER_REPL_MODELS: path.join(dir, "models"),
      INFER_REPL_HF_ENDPOINT: "http://127.0.0.1:9", // the discard port: nothing listens, the download fails at once
    };
    const r = await runCli(["--temp", "0", "-n", "16"], "Once upon a time\n", env);
    assert.equal(r.code, 0, r.stderr);
    const ref = greedyReferences().find((x) => x.model === "stories15M-f32.gguf" && x.prompt === "Once upon a time")!;
    assert.ok(("Once upon a time" + ref.greedyText).startsWith(r.stdout.trimEnd()), r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
