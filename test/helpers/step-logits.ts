import { Model } from "../../core/model/model.ts";

/**
 * Our logits the way a generation sees them: after `prompt` as one batch (its last row), then after each token of
 * `continuation` fed alone, with the f16 KV cache llama.cpp uses (compare with llamaCppStepLogits).
 */
export async function ourStepLogits(path: string, prompt: number[], continuation: number[], contextSize = 256): Promise<Float32Array[]> {
  const model = Model.load(path);
  model.setContextSize(contextSize);  // llamaCppStepLogits' context
  const blockSize = 16, n = prompt.length + continuation.length;
  const nBlocks = Math.ceil(n / blockSize);
  const kv = model.createKvCache(nBlocks, blockSize, "f16");
  const blockTables = Int32Array.from({ length: nBlocks }, (_, i) => i);
  const run = async (tokens: number[], start: number) => {
    const logits = new Float32Array(model.hparams.nVocab);
    await model.forward(kv, {
      tokens: Int32Array.from(tokens),
      positions: Int32Array.from(tokens, (_, i) => start + i),
      seqIds: new Int32Array(tokens.length),
      blockTables,
      tableOffsets: Int32Array.of(0, nBlocks),
      logitRows: Int32Array.of(tokens.length - 1),
      logits,
    });
    return logits;
  };
  const rows = [await run(prompt, 0)];
  for (let i = 0; i < continuation.length; i++) rows.push(await run([continuation[i]!], prompt.length + i));
  return rows;
}
