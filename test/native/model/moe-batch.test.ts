import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { Model } from "../../../core/model/model.ts";
import { native } from "../../../core/native.ts";
import { writeSyntheticModel, type SyntheticSpec } from "../../helpers/synthetic-model.ts";

// A step groups its tokens by expert (each chosen expert's weights read once for all its tokens): a token's logits
// must still not depend on what else is in the step. Prompts prefilled alone and all together, decode steps of all
// sequences, of small groups and of one token, on two threads and on one, for float and for quantized experts (packed
// Q8_0 kernels, the K-quant batch kernel). (A float router's order is each row's own flag: decode tokens take
// ggml_vec_dot's, alone or not.)
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-moe-batch-"));
after(() => {
  native.setThreads(2);
  rmSync(dir, { recursive: true, force: true });
});

const BLOCK = 16, BLOCKS_PER_SEQ = 2, N_SEQ = 10;
const base: SyntheticSpec = { architecture: "qwen3moe", nEmbd: 256, nLayer: 2, nHead: 2, nHeadKv: 1, headDim: 128, nFf: 512, experts: { count: 8, used: 3, ff: 64 }, seed: 31 };

function prompts(vocab: number): number[][] {
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0), seed);
  return Array.from({ length: N_SEQ }, (_, s) => Array.from({ length: 2 + (s % 7) * 3 }, () => 3 + (next() % (vocab - 3))));
}

/** Runs the sequences' prompts in the given groups (one step each, logits of every prompt row), then decode steps of
 *  one token per sequence in the given groups; returns each sequence's prompt logits and decode logits. */
async function run(model: Model, prefillGroups: number[][], decodeGroups: number[][]): Promise<{ prefill: Float32Array[]; decode: Float32Array[] }> {
  const vocab = model.hparams.nVocab, ps = prompts(vocab);
  const kv = model.createKvCache(N_SEQ * BLOCKS_PER_SEQ, BLOCK, "f16");
  const blockTables = Int32Array.from({ length: N_SEQ * BLOCKS_PER_SEQ }, (_, i) => i);
  const tableOffsets = Int32Array.from({ length: N_SEQ + 1 }, (_, s) => s * BLOCKS_PER_SEQ);
  const prefill: Float32Array[] = [], decode: Float32Array[] = [];
  for (const group of prefillGroups) {
    const rows = group.reduce((n, s) => n + ps[s]!.length, 0);
    const logits = new Float32Array(rows * vocab);
    await model.forward(kv, {
      tokens: Int32Array.from(group.flatMap((s) => ps[s]!)), positions: Int32Array.from(group.flatMap((s) => ps[s]!.map((_, i) => i))),
      seqIds: Int32Array.from(group.flatMap((s) => ps[s]!.map(() => s))), blockTables, tableOffsets,
      logitRows: Int32Array.from({ length: rows }, (_, r) => r), logits,
    });
    let at = 0;
    for (const s of group) {
      prefill[s] = logits.slice(at * vocab, (at + ps[s]!.length) * vocab);
      at += ps[s]!.length;
    }
  }
  for (const group of decodeGroups) {
    const logits = new Float32Array(group.length * vocab);
    await model.forward(kv, {
      tokens: Int32Array.from(group, (s) => 1 + (s * 37) % (vocab - 1)), positions: Int32Array.from(group, (s) => ps[s]!.length),
      seqIds: Int32Array.from(group), blockTables, tableOffsets, logitRows: Int32Array.from(group, (_, r) => r), logits,
    });
    group.forEach((s, r) => { decode[s] = logits.slice(r * vocab, (r + 1) * vocab); });
  }
  return { prefill, decode };
}

function assertSame(a: Float32Array[], b: Float32Array[], what: string): void {
  for (let s = 0; s < N_SEQ; s++) {
    const first = a[s]!.findIndex((v, i) => !Object.is(v, b[s]![i]));
    assert.equal(first, -1, `${what}: sequence ${s}, logit ${first}: ${a[s]![first]} against ${b[s]![first]}`);
  }
}

const all = Array.from({ length: N_SEQ }, (_, s) => s);
const cases: [string, Partial<SyntheticSpec>][] = [
  ["F32 experts", {}],
  ["Q8_0 experts (packed kernels)", { weightType: GgmlType.Q8_0 }],
  ["Q4_K experts (K-quant batch kernel)", { weightType: GgmlType.Q4_K, experts: { count: 8, used: 3, ff: 256 } }],
];
for (const [name, change] of cases) {
  test(`MoE ${name}: a token's logits do not depend on the other tokens of its step`, async () => {
    const file = path.join(dir, `${name.split(" ")[0]}.gguf`);
    writeSyntheticModel(file, { ...base, ...change });
    const model = Model.load(file);
    native.setThreads(2);
    const together = await run(model, [all], [all]);
    const apart = await run(model, all.map((s) => [s]), [[3], [1], [0, 9, 4], [2, 8], [7, 5, 6]]);
    native.setThreads(1);
    const oneThread = await run(model, [[9, 0, 5], [1, 2, 3, 4, 6, 7, 8]], [all.slice().reverse()]);
    assertSame(together.prefill, apart.prefill, "prompt alone / all prompts in one step");
    assertSame(together.prefill, oneThread.prefill, "prompts on one thread");
    assertSame(together.decode, apart.decode, "decode in small groups / all in one step");
    assertSame(together.decode, oneThread.decode, "decode on one thread");
  });
}
