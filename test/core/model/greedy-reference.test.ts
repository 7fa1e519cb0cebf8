import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Engine } from "../../../core/engine.ts";
import { nativeKernels as k } from "../../../core/native-kernels.ts";
import { runNode } from "../../helpers/cli.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";
import { greedyReferences } from "../../helpers/reference.ts";

const refs = greedyReferences();

const engines = new Map<string, Promise<Engine>>();
const engineFor = (file: string) => {
  if (!engines.has(file)) engines.set(file, Engine.load({ model: sharedModel(file), threads: 2 }));
  return engines.get(file)!;
};

// Every file the reference holds: llama.cpp on the reference machine kind (AVX-512), which these outputs must equal on
// every CPU (the live oracle, node-llama-cpp, computes in another arithmetic on CPUs without AVX-512).
const FILES = ["stories15M-f32.gguf", "stories15M-f16.gguf", "stories15M-q8_0.gguf", "stories15M-q4_0.gguf", "stories15M-q4_k_m.gguf", "stories15M-q6_k.gguf", "stories260K.gguf"];

for (const file of FILES) {
  for (const r of refs.filter((x) => x.model === file)) {
    test(`${file} "${r.prompt}": 64-token greedy continuation equals llama.cpp's, token for token`, { skip: noShared }, async () => {
      const engine = await engineFor(file);
      // One at a time, as llama.cpp produced the reference (its float matmuls take another path for batches).
      const result = await engine.generate(r.prompt, { temperature: 0, maxTokens: r.greedyTokens.length, ignoreEos: true });
      assert.deepEqual(result.promptTokens, r.promptTokens, "prompt tokens");
      assert.deepEqual(result.tokens, r.greedyTokens, "continuation");
      // The reference text is llama.cpp's detokenization of the continuation alone (leading space dropped); ours
      // streams it as a continuation of the prompt, so it keeps the space that separates it from the prompt.
      assert.equal(engine.model.tokenizer.decode(result.tokens), r.greedyText);
      assert.equal(result.text.trimStart(), r.greedyText);
    });
  }
}

test("the reference file has entries for every model the greedy tests cover", { skip: noShared }, () => {
  for (const file of FILES) {
    assert.ok(refs.some((r) => r.model === file), file);
  }
});

test("stories15M-f32: top-10 logits after each reference prompt agree with llama.cpp within 1e-3 relative", { skip: noShared }, async () => {
  const engine = await Engine.load({ model: sharedModel("stories15M-f32.gguf"), threads: 2 });
  const vocab = engine.model.hparams.nVocab;
  for (const r of refs.filter((x) => x.model === "stories15M-f32.gguf")) {
    const logits = await engine.logits(r.promptTokens);
    const last = logits.subarray((r.promptTokens.length - 1) * vocab);
    for (const [id, want] of r.top10Logits) {
      const rel = Math.abs(last[id]! - want) / Math.abs(want);
      assert.ok(rel < 1e-3, `"${r.prompt}" token ${id}: ${last[id]} vs ${want} (relative ${rel.toExponential(2)})`);
    }
  }
});

// The prompt is one batch, as llama.cpp evaluated it for the reference: its batch arithmetic, to the last bit.
for (const file of ["stories15M-q8_0.gguf", "stories15M-q4_0.gguf", "stories15M-q4_k_m.gguf", "stories15M-q6_k.gguf"]) {
  test(`${file}: top-10 logits after each reference prompt are llama.cpp's, bit for bit`, { skip: noShared }, async () => {
    const engine = await engineFor(file);
    const vocab = engine.model.hparams.nVocab;
    for (const r of refs.filter((x) => x.model === file)) {
      const logits = await engine.logits(r.promptTokens);
      const last = logits.subarray((r.promptTokens.length - 1) * vocab);
      const differing = r.top10Logits.filter(([id, want]) => last[id] !== want).map(([id, want]) => `${id}: ${last[id]} vs ${want}`);
      assert.deepEqual(differing, [], `"${r.prompt}"`);
    }
  });
}

// The same through the avx2 variant where this CPU's widest is avx512 (the variant is chosen once per process, so a
// child process with INFER_REPL_KERNELS=avx2 runs the tests above): every variant gives llama.cpp-zen4's bits.
test("the quantized top-10 logits are llama.cpp's bit for bit through the avx2 variant too", { skip: (noShared || !k.cpuFeatures().variants.includes("avx512")) && "needs the shared files and a CPU with AVX-512", timeout: 300_000 }, async () => {
  // NODE_TEST_CONTEXT unset: inherited from this test runner's child, it would make the new runner report in its
  // internal format rather than TAP.
  const r = await runNode(["--import", "tsx", "--test", "--test-reporter", "tap", "--test-name-pattern", "top-10 logits after each reference prompt are llama.cpp's, bit for bit",
    fileURLToPath(import.meta.url)], "", { INFER_REPL_KERNELS: "avx2", NODE_TEST_CONTEXT: undefined });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /# pass 4\n/, r.stdout);
});
