// A model driven directly through one addon for step benchmarks (bench/batched-step.ts, bench/interleaved-step.ts):
// n sequences in a paged f16 cache, greedy (argmax) rows as the engine's temperature-0 decode asks for them.
// prefill() gives each sequence a `prompt`-token prompt in one batch (as `generate` decodes after a prefill: a batch
// of 16+ rows makes the Q8_0 matrices' packed copies, which decode then reads); step(pos) decodes one token of every
// sequence at position pos.
import type { GgufFile } from "../core/gguf/index.ts";
import type { ModelHparams } from "../core/model/hparams.ts";
import { weightTable } from "../core/model/weights.ts";
import type { NativeAddon } from "../core/native.ts";

export interface DecodeSteps {
  prefill(): Promise<void>;
  step(pos: number): Promise<Int32Array>;
}

const BLOCK = 16;

export function decodeSteps(native: NativeAddon, f: GgufFile, hp: ModelHparams, o: { seqs: number; prompt: number; steps: number }): DecodeSteps {
  const { seqs: n, prompt } = o;
  const perSeq = Math.ceil((prompt + o.steps + 2) / BLOCK);
  const model = new native.Model({ path: f.path, config: hp, tensors: weightTable(f, hp) });
  const kv = new native.KvCache({ nLayer: hp.nLayer, nBlocks: n * perSeq, blockSize: BLOCK, kvDim: hp.nHeadKv * hp.headDim, type: "f16" });
  const blockTables = Int32Array.from({ length: n * perSeq }, (_, i) => i);
  const tableOffsets = Int32Array.from({ length: n + 1 }, (_, s) => s * perSeq);
  const seqIds = Int32Array.from({ length: n }, (_, s) => s);
  const argmax = new Int32Array(n);
  let tokens = Int32Array.from({ length: n }, (_, s) => 1000 + 17 * s);
  return {
    async prefill() {
      if (prompt === 0) return;
      const rows = n * prompt, seqOf = (i: number) => Math.floor(i / prompt);
      await model.forward(kv, {
        tokens: Int32Array.from({ length: rows }, (_, i) => 1000 + 17 * seqOf(i) + (i % prompt)),
        positions: Int32Array.from({ length: rows }, (_, i) => i % prompt),
        seqIds: Int32Array.from({ length: rows }, (_, i) => seqOf(i)), blockTables, tableOffsets,
        logitRows: Int32Array.from({ length: n }, (_, s) => s * prompt + prompt - 1), logits: new Float32Array(0), argmax,
      });
      tokens = Int32Array.from(argmax, (t) => Math.max(0, t));
    },
    async step(pos) {
      await model.forward(kv, {
        tokens, positions: new Int32Array(n).fill(pos), seqIds, blockTables, tableOffsets,
        logitRows: Int32Array.from({ length: n }, (_, r) => r), logits: new Float32Array(0), argmax,
      });
      tokens = Int32Array.from(argmax, (t) => Math.max(0, t));
      return tokens;
    },
  };
}
