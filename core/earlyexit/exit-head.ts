import { getArray, type GgufFile } from "../gguf/index.ts";

/**
 * The `n` ordinary tokens (not control or byte tokens) with the highest SentencePiece scores: for llama-style
 * vocabularies the score orders pieces by how early they were merged, i.e. roughly by frequency, so these rows
 * of the output head cover most of the probability mass at a fraction of its cost (the early-exit test head).
 */
export function frequentTokens(file: GgufFile, n: number): Int32Array {
  const scores = getArray(file, "tokenizer.ggml.scores")?.items;
  const types = getArray(file, "tokenizer.ggml.token_type")?.items;
  if (!scores) throw new RangeError(`${file.path} has no tokenizer scores to pick a reduced exit head from`);
  const ids = Array.from({ length: scores.length }, (_, i) => i).filter((i) => !types || Number(types[i]) === 1);
  ids.sort((a, b) => Number(scores[b]) - Number(scores[a]) || a - b);
  return Int32Array.from(ids.slice(0, n));
}
