import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runCli } from "../helpers/cli.ts";
import { writeSyntheticModel } from "../helpers/synthetic-model.ts";
import { noShared, sharedModel } from "../helpers/index.ts";

test("generate --json has text, tokens, prompt_tokens, finish_reason and speed stats", { skip: noShared }, async () => {
  const r = await runCli(["generate", "-m", sharedModel("stories260K.gguf"), "-p", "Once upon a time", "--temp", "0", "-n", "8", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(typeof out.text, "string");
  assert.equal(out.tokens.length, 8);
  assert.equal(out.prompt_tokens[0], 1, "BOS first");
  assert.equal(out.finish_reason, "length");
  assert.ok(out.stats.prefill_tokens_per_s > 0 && out.stats.decode_tokens_per_s > 0);
});

test("generate reads the prompt from stdin", { skip: noShared }, async () => {
  const r = await runCli(["generate", "-m", sharedModel("stories260K.gguf"), "--temp", "0", "-n", "4"], "Once upon a time");
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith("Once upon a time"));
});

test("info --json describes the architecture, tensors and memory", { skip: noShared }, async () => {
  const r = await runCli(["info", sharedModel("stories15M-q4_k_m.gguf"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.architecture, "llama");
  assert.equal(info.hparams.n_layer, 6);
  assert.equal(info.hparams.n_vocab, 32000);
  assert.ok(info.tensor_types.Q4_K >= 1 && info.tensor_types.Q5_0 >= 1);
  assert.ok(info.weights_bytes > 10e6);
});

test("info prints a mixture of experts' expert counts and active parameters", { skip: noShared }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-info-"));
  try {
    const file = path.join(dir, "moe.gguf");
    writeSyntheticModel(file, { architecture: "qwen3moe", nEmbd: 64, nLayer: 2, nHead: 2, nHeadKv: 1, headDim: 32, nFf: 128, experts: { count: 8, used: 2, ff: 32 } });
    const info = JSON.parse((await runCli(["info", file, "--json"])).stdout);
    assert.deepEqual(info.experts, { n_expert: 8, n_expert_used: 2, n_ff_expert: 32, weights_normalized: true });
    // Per layer the 8 experts hold 3 * 64 * 32 * 8 = 49152 parameters, of which a token uses 2/8.
    assert.equal(info.parameters - info.active_parameters, 2 * 49152 * 6 / 8);
    const text = (await runCli(["info", file])).stdout;
    assert.match(text, /experts 8, 2 per token \(weights renormalised\), expert FFN 32/);
    assert.match(text, /active per token/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tokenize and detokenize round-trip through the CLI", { skip: noShared }, async () => {
  const model = sharedModel("stories15M-q8_0.gguf");
  const t = await runCli(["tokenize", "-m", model], "Once upon a time");
  assert.equal(t.code, 0, t.stderr);
  assert.deepEqual(JSON.parse(t.stdout), [1, 9038, 2501, 263, 931]);
  const noBos = await runCli(["tokenize", "-m", model, "--no-bos"], "Once upon a time");
  assert.deepEqual(JSON.parse(noBos.stdout), [9038, 2501, 263, 931]);
  const d = await runCli(["detokenize", "-m", model], "[9038, 2501, 263, 931]");
  assert.equal(d.code, 0, d.stderr);
  assert.equal(d.stdout, "Once upon a time");
});

test("generate --chat renders the messages with the model's template", { skip: noShared }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-chat-"));
  try {
    const model = path.join(dir, "chat.gguf");
    const template = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
    writeSyntheticModel(model, { architecture: "llama", nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 64, extraMetadata: [["tokenizer.chat_template", template]] });
    const messages = JSON.stringify([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]);
    const r = await runCli(["generate", "-m", model, "--chat", "-p", messages, "--temp", "0", "-n", "3", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    // The template writes BOS itself ("<s>", parsed as the special token): exactly one BOS, then the text.
    const t = await runCli(["tokenize", "-m", model, "--no-bos", "--parse-special"], "<s><system>Be brief.\n<user>Hi\n<assistant>");
    assert.deepEqual(out.prompt_tokens, JSON.parse(t.stdout));
    assert.equal(out.prompt_tokens[0], 1);
    assert.notEqual(out.prompt_tokens[1], 1, "BOS not doubled");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("generate --chat on a model without a template, or with bad messages, exits 2", { skip: noShared }, async () => {
  const noTemplate = await runCli(["generate", "-m", sharedModel("stories260K.gguf"), "--chat", "-p", '[{"role":"user","content":"x"}]']);
  assert.equal(noTemplate.code, 2);
  assert.match(noTemplate.stderr, /no chat template/);
  const bad = await runCli(["generate", "-m", sharedModel("stories260K.gguf"), "--chat", "-p", "hello"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /JSON array/);
});

test("quantize writes the same Q8_0 file llama-quantize made; a bad type exits 2", { skip: noShared }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-quant-"));
  try {
    const out = path.join(dir, "q8.gguf");
    const r = await runCli(["quantize", sharedModel("stories15M-f32.gguf"), out, "q8_0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(out).equals(readFileSync(sharedModel("stories15M-q8_0.gguf"))), "byte-identical to the shared q8_0 file");
    const bad = await runCli(["quantize", sharedModel("stories15M-f32.gguf"), out, "Q9_X"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^infer-repl: quantize: unknown type 'Q9_X' \(supported: F16, .*Q4_K_M.*, and the aliases Q3_K, Q4_K, Q5_K\)/);
    const iq = await runCli(["quantize", sharedModel("stories15M-f32.gguf"), out, "IQ2_XXS"]);
    assert.equal(iq.code, 2);
    assert.match(iq.stderr, /IQ2_XXS is a llama-quantize type that infer-repl does not write \(supported: /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("issue 19: quantize takes llama-quantize's aliases and file type numbers: Q4_K and 15 are Q4_K_M", { skip: noShared, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-quant-"));
  try {
    for (const type of ["Q4_K", "15", "q4_k_m"]) {
      const out = path.join(dir, `${type}.gguf`);
      const r = await runCli(["quantize", sharedModel("stories15M-f32.gguf"), out, type]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(out).equals(readFileSync(sharedModel("stories15M-q4_k_m.gguf"))), `${type}: byte-identical to llama-quantize's Q4_K_M file`);
    }
    const q3 = await runCli(["quantize", sharedModel("stories15M-f32.gguf"), path.join(dir, "q3.gguf"), "Q3_K"]);
    assert.equal(q3.code, 0, q3.stderr);
    const q3m = await runCli(["quantize", sharedModel("stories15M-f32.gguf"), path.join(dir, "q3m.gguf"), "Q3_K_M"]);
    assert.equal(q3m.code, 0, q3m.stderr);
    assert.ok(readFileSync(path.join(dir, "q3.gguf")).equals(readFileSync(path.join(dir, "q3m.gguf"))), "Q3_K is Q3_K_M");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("issue 19: generate -c 8 -n 16 ends with finish reason \"context\" and a warning naming the context size", { skip: noShared }, async () => {
  const r = await runCli(["generate", "-m", sharedModel("stories15M-q8_0.gguf"), "-c", "8", "-n", "16", "--temp", "0", "-p", "Once upon a time", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.finish_reason, "context");
  assert.equal(out.prompt_tokens.length + out.tokens.length, 8);
  assert.match(r.stderr, /^infer-repl: warning: stopped after 3 generated tokens: the context is full \(8 positions, 5 of them the prompt\)/m);
  const plain = await runCli(["generate", "-m", sharedModel("stories15M-q8_0.gguf"), "-c", "8", "-n", "16", "--temp", "0", "-p", "Once upon a time"]);
  assert.match(plain.stderr, /the context is full \(8 positions/);
  // A generation that stops at -n is "length", without a warning.
  const enough = await runCli(["generate", "-m", sharedModel("stories15M-q8_0.gguf"), "-n", "4", "--temp", "0", "-p", "Once upon a time", "--json"]);
  assert.equal(JSON.parse(enough.stdout).finish_reason, "length");
  assert.equal(enough.stderr, "");
});

test("issue 19: pull of stories15M offline converts the npm copy, as the default model does", { skip: noShared, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-pull-"));
  try {
    const env = { INFER_REPL_CACHE: path.join(dir, "cache"), INFER_REPL_HF_ENDPOINT: "http://127.0.0.1:9" }; // nothing listens there
    const r = await runCli(["pull", "stories15M"], "", env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), path.join(dir, "cache", "stories15M-f32.gguf"));
    assert.match(r.stderr, /converting the copy of stories15M shipped in the npm package/);
    assert.ok(readFileSync(r.stdout.trim()).equals(readFileSync(sharedModel("stories15M-f32.gguf"))), "the same file as the published one");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
