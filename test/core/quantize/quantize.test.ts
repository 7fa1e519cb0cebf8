import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ggmlTypeName, readGguf, readTensorData } from "../../../core/gguf/index.ts";
import { planTensorTypes, quantizeGguf, QUANT_FTYPES, type QuantFtype } from "../../../core/quantize/index.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

// The shared quantized stories15M files were made from the f32 file by llama-quantize: our pipeline must pick
// the same type for every tensor (the Q4_K_M / Q6_K mixes and their fallbacks for 288-wide rows) and write the
// same bytes — in fact the same file.
const CASES: ReadonlyArray<[QuantFtype, string]> = [
  ["Q8_0", "stories15M-q8_0.gguf"], ["Q4_0", "stories15M-q4_0.gguf"], ["Q4_K_M", "stories15M-q4_k_m.gguf"],
  ["Q6_K", "stories15M-q6_k.gguf"], ["F16", "stories15M-f16.gguf"],
];

for (const [ftype, file] of CASES) {
  test(`quantize stories15M-f32 to ${ftype} reproduces ${file} byte for byte`, { skip: noShared }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ir-quant-"));
    try {
      const out = path.join(dir, "out.gguf");
      quantizeGguf(sharedModel("stories15M-f32.gguf"), out, ftype);
      const ours = readGguf(out), want = readGguf(sharedModel(file));
      assert.equal(ours.metadata.get("general.file_type"), QUANT_FTYPES[ftype].ftype);
      assert.equal(ours.metadata.get("general.file_type"), want.metadata.get("general.file_type"));
      assert.deepEqual(ours.tensors.map((t) => [t.name, ggmlTypeName(t.type), t.dims]), want.tensors.map((t) => [t.name, ggmlTypeName(t.type), t.dims]));
      for (let i = 0; i < want.tensors.length; i++) {
        assert.ok(Buffer.from(readTensorData(ours, ours.tensors[i]!)).equals(readTensorData(want, want.tensors[i]!)), `tensor ${want.tensors[i]!.name} data differs`);
      }
      assert.ok(readFileSync(out).equals(readFileSync(sharedModel(file))), "whole file differs (metadata or layout)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("the Q4_K_M plan for stories15M bumps attn_v and ffn_down on layers 2 and 5, and falls back for 288-wide rows", { skip: noShared }, () => {
  const plan = planTensorTypes(readGguf(sharedModel("stories15M-f32.gguf")), "Q4_K_M");
  const name = (t: number) => ggmlTypeName(t);
  assert.equal(name(plan.get("token_embd.weight")!), "Q8_0");
  assert.equal(name(plan.get("blk.2.attn_v.weight")!), "Q8_0"); // Q6_K, demoted: 288 % 256 != 0
  assert.equal(name(plan.get("blk.1.attn_v.weight")!), "Q5_0"); // Q4_K, demoted
  assert.equal(name(plan.get("blk.5.ffn_down.weight")!), "Q6_K");
  assert.equal(name(plan.get("blk.0.ffn_down.weight")!), "Q4_K");
  assert.equal(name(plan.get("blk.0.attn_norm.weight")!), "F32");
});

test("already-quantized sources are refused unless requantizing is allowed", { skip: noShared }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ir-quant-"));
  try {
    assert.throws(() => quantizeGguf(sharedModel("stories15M-q8_0.gguf"), path.join(dir, "x.gguf"), "Q4_0"), /already quantized/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
