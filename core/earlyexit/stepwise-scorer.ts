import type { Engine } from "../engine.ts";
import type { KvType } from "../model/model.ts";
import type { PerplexityEngine } from "../perplexity.ts";
import type { ExitPoint } from "./options.ts";

/**
 * A stand-in engine for core's perplexity whose logits are computed one token at a time, as generation computes
 * them, so early exit's exits (and the KV type's rounding) happen exactly as when the configuration generates.
 * Its KV cache is its own (`contextSize` positions of `kvType`); the model is the engine's.
 */
export function stepwiseScorer(engine: Engine, o: { contextSize: number; kvType: KvType; earlyExit?: readonly ExitPoint[] }): PerplexityEngine {
  const model = engine.model, vocab = model.hparams.nVocab, blockSize = 16;
  const blocks = Math.ceil(o.contextSize / blockSize);
  const kv = model.createKvCache(blocks, blockSize, o.kvType);
  const table = Int32Array.from({ length: blocks }, (_, i) => i);
  const layers = o.earlyExit && Int32Array.from(o.earlyExit, (x) => x.layer);
  const thresholds = o.earlyExit && Float32Array.from(o.earlyExit, (x) => x.threshold);
  return {
    tokenize: (text, options) => engine.tokenize(text, options),
    contextSize: o.contextSize,
    model,
    logits: async (chunkLike) => {
      const chunk = Int32Array.from(chunkLike);
      const out = new Float32Array(chunk.length * vocab);
      for (let i = 0; i < chunk.length; i++) {
        await model.forward(kv, {
          tokens: chunk.subarray(i, i + 1), positions: Int32Array.of(i), seqIds: Int32Array.of(0), blockTables: table,
          tableOffsets: Int32Array.of(0, table.length), logitRows: Int32Array.of(0), logits: out.subarray(i * vocab, (i + 1) * vocab),
          ...(layers && { exitLayers: layers, exitThresholds: thresholds, exitLayersUsed: new Int32Array(1) }),
        });
      }
      return out;
    },
  };
}
