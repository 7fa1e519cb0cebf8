import type { TokenPicker } from "../scheduler/sequence.ts";
import { SamplingError } from "./errors.ts";

/** Most alternatives a request may ask for per token (OpenAI's top_logprobs bound). */
export const MAX_TOP_LOGPROBS = 20;

export interface TokenLogprob {
  /** Natural log of the chosen token's probability under the model. */
  logprob: number;
  /** The `top` most likely tokens at this position, most likely first (ties: lower id first). */
  top: { token: number; logprob: number }[];
}

/**
 * Log-probabilities of the model's own distribution: log-softmax of the raw logits, before logit bias,
 * penalties, truncation and temperature (what llama-server reports by default). The sum runs in double.
 * Costs one pass over the vocabulary for the normaliser and one for the top `top` (insertion into a list of at
 * most MAX_TOP_LOGPROBS); only requests that ask for log-probabilities pay it.
 */
export function tokenLogprob(logits: Float32Array, chosen: number, top: number): TokenLogprob {
  let max = -Infinity;
  for (let t = 0; t < logits.length; t++) if (logits[t]! > max) max = logits[t]!;
  let sum = 0;
  for (let t = 0; t < logits.length; t++) sum += Math.exp(logits[t]! - max);
  const logZ = max + Math.log(sum);
  const best: number[] = [];
  for (let t = 0; t < logits.length && top > 0; t++) {
    const l = logits[t]!;
    if (best.length === top && !(l > logits[best[top - 1]!]!)) continue;
    let i = best.length === top ? top - 1 : best.length;
    while (i > 0 && l > logits[best[i - 1]!]!) {
      best[i] = best[i - 1]!;
      i--;
    }
    best[i] = t;
  }
  return { logprob: logits[chosen]! - logZ, top: best.map((token) => ({ token, logprob: logits[token]! - logZ })) };
}

/**
 * A picker that records the log-probability of each token it draws (and its `top` alternatives) before the
 * sampler changes the row in place. It never lets the engine take the forward's argmax instead of the row.
 */
export class LogprobRecorder implements TokenPicker {
  /** The record of the token drawn last; the engine emits a token right after drawing it. */
  last: TokenLogprob | undefined;
  readonly argmaxSuffices = false;
  /** The row as the model gave it (the sampler adds bias and penalties in place); allocated once per request. */
  private raw: Float32Array | undefined;

  constructor(private readonly inner: TokenPicker, private readonly top: number) {
    if (!Number.isInteger(top) || top < 0 || top > MAX_TOP_LOGPROBS) {
      throw new SamplingError(`logprobs must be an integer from 0 to ${MAX_TOP_LOGPROBS}, got ${top}`);
    }
  }

  sample(logits: Float32Array): number {
    const raw = (this.raw ??= new Float32Array(logits.length));
    raw.set(logits);
    const token = this.inner.sample(logits);
    this.last = tokenLogprob(raw, token, this.top);
    return token;
  }
}
