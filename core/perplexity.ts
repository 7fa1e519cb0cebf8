import type { Engine } from "./engine.ts";

/**
 * Perplexity the way llama.cpp's llama-perplexity computes it, so figures compare with its numbers (it evaluates each
 * chunk as one batch: an engine in the "prompt" arithmetic computes Engine.logits the same way): the text is
 * tokenized with BOS and cut into non-overlapping chunks of `contextSize` tokens (a trailing partial chunk is
 * dropped); each chunk's first token is replaced by BOS, and only the second half of each chunk is scored:
 * positions j from ctx/2 to ctx-2 predict token j+1.
 */
export interface PerplexityOptions {
  /** Tokens per chunk (llama-perplexity's -c); default 128. */
  contextSize?: number;
  signal?: AbortSignal;
  /** Score at most this many chunks (the first ones); default all. */
  maxChunks?: number;
  /** Called after each chunk with the perplexity of the chunks so far. */
  onChunk?: (done: number, total: number, pplSoFar: number) => void;
}

export interface PerplexityResult {
  readonly ppl: number;
  readonly chunks: number;
  readonly tokensScored: number;
}

/** What perplexity needs from an engine (an Engine, or a stand-in with known logits in tests). */
export type PerplexityEngine = Pick<Engine, "tokenize" | "logits" | "contextSize"> & {
  readonly model: { readonly hparams: { readonly nVocab: number }; readonly tokenizer: { readonly bos: number | undefined } };
};

export async function perplexity(engine: PerplexityEngine, text: string, options: PerplexityOptions = {}): Promise<PerplexityResult> {
  const ctx = options.contextSize ?? 128;
  if (!Number.isInteger(ctx) || ctx < 4) throw new RangeError(`perplexity: the chunk size must be an integer >= 4, got ${ctx}`);
  if (ctx > engine.contextSize) {
    throw new RangeError(`perplexity: chunks of ${ctx} tokens do not fit the engine's context of ${engine.contextSize} positions`);
  }
  const bos = engine.model.tokenizer.bos;
  if (bos === undefined) throw new RangeError("perplexity: this model has no BOS token, which llama.cpp's method needs");
  const tokens = engine.tokenize(text, { addSpecial: true });
  const chunks = Math.min(Math.floor(tokens.length / ctx), options.maxChunks ?? Infinity);
  if (chunks === 0) throw new RangeError(`perplexity: the text has ${tokens.length} tokens, fewer than one ${ctx}-token chunk`);
  const vocab = engine.model.hparams.nVocab, first = ctx >> 1;
  let nll = 0, count = 0;
  for (let c = 0; c < chunks; c++) {
    options.signal?.throwIfAborted();
    const chunk = tokens.slice(c * ctx, (c + 1) * ctx);
    chunk[0] = bos;
    const logits = await engine.logits(chunk);
    for (let j = first; j < ctx - 1; j++) {
      nll -= logSoftmaxAt(logits.subarray(j * vocab, (j + 1) * vocab), tokens[c * ctx + j + 1]!);
      count++;
    }
    options.onChunk?.(c + 1, chunks, Math.exp(nll / count));
  }
  return { ppl: Math.exp(nll / count), chunks, tokensScored: count };
}

/** log softmax(row)[index], computed stably in double precision. */
function logSoftmaxAt(row: Float32Array, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[index]! - max - Math.log(sum);
}
