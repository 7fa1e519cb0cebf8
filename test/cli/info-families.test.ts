import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { GgufValueType, writeGguf, type TypedValue } from "../../core/gguf/index.ts";
import { SUPPORTED_ARCHITECTURES } from "../../core/model/hparams.ts";
import { runCli } from "../helpers/cli.ts";
import { noShared } from "../helpers/index.ts";
import { writeSyntheticModel } from "../helpers/synthetic-model.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-info-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const u32 = (value: number): TypedValue => ({ type: GgufValueType.UINT32, value });
const f32 = (value: number): TypedValue => ({ type: GgufValueType.FLOAT32, value });

test("info shows a gemma2 file's sliding window, soft-caps and scales", { skip: noShared }, async () => {
  const file = path.join(dir, "gemma2.gguf");
  writeSyntheticModel(file, {
    architecture: "gemma2", nEmbd: 64, nLayer: 4, nHead: 2, nHeadKv: 1, headDim: 32, nFf: 128,
    extraMetadata: [["gemma2.attention.sliding_window", u32(48)], ["gemma2.final_logit_softcapping", f32(30)]],
  });
  const json = await runCli(["info", file, "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const family = JSON.parse(json.stdout).family;
  assert.deepEqual(family.sliding_window, { size: 48, layers: 2, rope_base: 10000, rope_freq_scale: 1, kv_cache: "window" });
  assert.equal(family.attention_softcap, 50);  // llama.cpp's default when the file has none
  assert.equal(family.final_softcap, 30);
  assert.equal(family.embedding_scale, 8);
  assert.equal(family.ffn, "geglu");
  const text = await runCli(["info", file]);
  assert.match(text.stdout, /family +embeddings × 8; GeGLU feed-forward; queries × 0\.176777; attention soft-cap 50; final soft-cap 30; sliding window 48 on 2 of 4 layers \(rope base 10000; their KV cache keeps only the window, 2 of 4 layers keep every position\)/);
});

test("info and generate refuse an unsupported architecture with exit 2, naming it and the supported ones", async () => {
  const file = path.join(dir, "mamba.gguf");
  writeGguf(file, { metadata: [["general.architecture", "mamba"]], tensors: [] });
  for (const args of [["info", file], ["generate", "-m", file, "-p", "x"]]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args[0]}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, /architecture 'mamba' is not supported/);
    for (const arch of SUPPORTED_ARCHITECTURES) assert.ok(r.stderr.includes(arch), `${arch} missing from: ${r.stderr}`);
  }
});
