import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { GgmlType } from "../../../core/gguf/index.ts";
import { Model } from "../../../core/model/model.ts";
import { promptRowArithmetic } from "../../../core/model/row-arithmetic.ts";
import { native } from "../../../core/native.ts";
import { writeSyntheticModel, type SyntheticSpec } from "../../helpers/synthetic-model.ts";

// F32/F16/BF16 weights: llama.cpp sums a lone token (decode) in ggml_vec_dot's order and the rows of a prompt batch
// in tinyBLAS's, so a token's order is its own flag (ROW_FLOAT_BATCH), never the step's row count. A decode token's
// logits must be the same bits alone, beside other sequences' decode tokens, and beside another prompt's rows; a
// prompt's the same alone and beside other prompts. (Before the per-row flag, a step of 2+ rows summed every row in
// tinyBLAS's order: a decode token beside another got other bits than alone.)
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-float-batch-"));
after(() => {
  native.setThreads(2);
  rmSync(dir, { recursive: true, force: true });
});

const BLOCK = 16, BLOCKS_PER_SEQ = 2, N_SEQ = 6;
const base: SyntheticSpec = { architecture: "llama", nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 512, untiedOutput: true, seed: 17 };

function prompts(vocab: number): number[][] {
  let seed = 11;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0), seed);
  return Array.from({ length: N_SEQ }, (_, s) => Array.from({ length: 2 + s * 3 }, () => 3 + (next() % (vocab - 3))));
}

type Part = { seq: number; prompt: boolean };

/** Steps of parts (a sequence's whole prompt, or its one decode token after the prompt); each part's last logits. */
async function run(model: Model, steps: Part[][]): Promise<{ prompt: Float32Array[]; decode: Float32Array[] }> {
  const vocab = model.hparams.nVocab, ps = prompts(vocab);
  const kv = model.createKvCache(N_SEQ * BLOCKS_PER_SEQ, BLOCK, "f16");
  const blockTables = Int32Array.from({ length: N_SEQ * BLOCKS_PER_SEQ }, (_, i) => i);
  const tableOffsets = Int32Array.from({ length: N_SEQ + 1 }, (_, s) => s * BLOCKS_PER_SEQ);
  const out = { prompt: [] as Float32Array[], decode: [] as Float32Array[] };
  for (const step of steps) {
    const tokens: number[] = [], positions: number[] = [], seqIds: number[] = [], flags: number[] = [], lastRows: number[] = [];
    for (const { seq, prompt } of step) {
      const p = ps[seq]!;
      if (prompt) {
        tokens.push(...p), positions.push(...p.map((_, i) => i)), flags.push(...promptRowArithmetic(p.length));
        seqIds.push(...p.map(() => seq));
      } else {
        tokens.push(1 + (seq * 37) % (vocab - 1)), positions.push(p.length), flags.push(0), seqIds.push(seq);
      }
      lastRows.push(tokens.length - 1);
    }
    const logits = new Float32Array(lastRows.length * vocab);
    await model.forward(kv, {
      tokens: Int32Array.from(tokens), positions: Int32Array.from(positions), seqIds: Int32Array.from(seqIds), blockTables, tableOffsets,
      logitRows: Int32Array.from(lastRows), logits, rowArithmetic: Uint8Array.from(flags),
    });
    step.forEach(({ seq, prompt }, r) => { (prompt ? out.prompt : out.decode)[seq] = logits.slice(r * vocab, (r + 1) * vocab); });
  }
  return out;
}

function assertSame(a: Float32Array[], b: Float32Array[], what: string): void {
  for (let s = 0; s < N_SEQ; s++) {
    const first = a[s]!.findIndex((v, i) => !Object.is(v, b[s]![i]));
    assert.equal(first, -1, `${what}: sequence ${s}, logit ${first}: ${a[s]![first]} against ${b[s]![first]}`);
  }
}

const seqs = Array.from({ length: N_SEQ }, (_, s) => s);
const prompt = (seq: number): Part => ({ seq, prompt: true }), decode = (seq: number): Part => ({ seq, prompt: false });
for (const type of [GgmlType.F32, GgmlType.F16, GgmlType.BF16]) {
  test(`${GgmlType[type]} weights: a token's logits do not depend on the other tokens of its step`, async () => {
    const file = path.join(dir, `${GgmlType[type]}.gguf`);
    writeSyntheticModel(file, { ...base, weightType: type });
    const model = Model.load(file);
    native.setThreads(2);
    const alone = await run(model, [...seqs.map((s) => [prompt(s)]), ...seqs.map((s) => [decode(s)])]);
    const together = await run(model, [seqs.map(prompt), seqs.map(decode)]);
    // Decode tokens beside later prompts' rows: sequence s decodes in the step that prefills s + 1.
    const mixed = await run(model, [[prompt(0)], ...seqs.map((s) => [decode(s), ...(s + 1 < N_SEQ ? [prompt(s + 1)] : [])])]);
    native.setThreads(1);
    const oneThread = await run(model, [seqs.slice().reverse().map(prompt), [decode(2), decode(5)], [decode(0), decode(1), decode(3), decode(4)]]);
    assertSame(alone.prompt, together.prompt, "prompts alone / all in one step");
    assertSame(alone.prompt, mixed.prompt, "prompts beside decode tokens");
    assertSame(alone.prompt, oneThread.prompt, "prompts on one thread");
    assertSame(alone.decode, together.decode, "decode alone / all in one step");
    assertSame(alone.decode, mixed.decode, "decode beside a prompt's rows");
    assertSame(alone.decode, oneThread.decode, "decode in groups on one thread");
  });
}
