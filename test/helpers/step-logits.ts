import { Model, type Arithmetic } from "../../core/model/model.ts";
import { promptRowArithmetic } from "../../core/model/row-arithmetic.ts";

/**
 * Our logits the way a generation sees them: after `prompt` as one batch (its last row), then after each token of
 * `continuation` fed alone, with the f16 KV cache llama.cpp uses (compare with llamaCppStepLogits). The prompt is
 * computed in `arithmetic` ("prompt", the engine's default: as llama.cpp computes a prompt batch; "token": as
 * llama.cpp fed one token at a time).
 */
export async function ourStepLogits(
  path: string, prompt: number[], continuation: number[], options: { contextSize?: number; arithmetic?: Arithmetic } = {},
): Promise<Float32Array[]> {
  const arithmetic = options.arithmetic ?? "prompt";
  const model = Model.load(path, arithmetic);
  model.setContextSize(options.contextSize ?? 256);  // llamaCppStepLogits' context
  const blockSize = 16, n = prompt.length + continuation.length;
  const nBlocks = Math.ceil(n / blockSize);
  const kv = model.createKvCache(nBlocks, blockSize, "f16");
  const blockTables = Int32Array.from({ length: nBlocks }, (_, i) => i);
  const run = async (tokens: number[], start: number, rowArithmetic?: Uint8Array) => {
    const logits = new Float32Array(model.hparams.nVocab);
    await model.forward(kv, {
      tokens: Int32Array.from(tokens),
      positions: Int32Array.from(tokens, (_, i) => start + i),
      seqIds: new Int32Array(tokens.length),
      blockTables,
      tableOffsets: Int32Array.of(0, nBlocks),
      logitRows: Int32Array.of(tokens.length - 1),
      logits,
      rowArithmetic,
    });
    return logits;
  };
  const rows = [await run(prompt, 0, arithmetic === "prompt" ? promptRowArithmetic(prompt.length) : undefined)];
  for (let i = 0; i < continuation.length; i++) rows.push(await run([continuation[i]!], prompt.length + i));
  return rows;
}
