import type { GenerationResult } from "../core/generation.ts";
import type { TokenLogprob } from "../core/sampling/logprobs.ts";
import type { Tokenizer } from "../core/tokenizer/index.ts";

// The parts of OpenAI's response objects both routes share: usage figures and log-probabilities.

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/**
 * Usage of a request: each prompt counted once (its first choice's figures), every choice's completion tokens;
 * cached_tokens are the prompt tokens whose K/V the engine's prefix cache already held.
 */
export function usageOf(perPrompt: readonly (readonly GenerationResult[])[]): Usage {
  let prompt = 0, completion = 0, cached = 0;
  for (const results of perPrompt) {
    prompt += results[0]?.stats.promptTokens ?? 0;
    cached += results[0]?.stats.promptTokensCached ?? 0;
    for (const r of results) completion += r.stats.generatedTokens;
  }
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}

/** A token's text on its own (as llama-server reports it in log-probabilities; a split UTF-8 character shows as U+FFFD). */
export function tokenPiece(tokenizer: Tokenizer, token: number): string {
  const d = tokenizer.createDecoder({ continuation: true });
  return d.push(token) + d.flush();
}

/** /v1/completions' (legacy) log-probabilities of some tokens. */
export function completionLogprobs(tokenizer: Tokenizer, tokens: readonly number[], records: readonly TokenLogprob[], textOffset: number) {
  const out = { tokens: [] as string[], token_logprobs: [] as number[], top_logprobs: [] as Record<string, number>[], text_offset: [] as number[] };
  let offset = textOffset;
  records.forEach((r, i) => {
    const text = tokenPiece(tokenizer, tokens[i]!);
    out.tokens.push(text);
    out.token_logprobs.push(r.logprob);
    out.top_logprobs.push(Object.fromEntries(r.top.map((t) => [tokenPiece(tokenizer, t.token), t.logprob])));
    out.text_offset.push(offset);
    offset += text.length;
  });
  return out;
}

/** /v1/chat/completions' log-probabilities: `content`, one entry per token. */
export function chatLogprobs(tokenizer: Tokenizer, tokens: readonly number[], records: readonly TokenLogprob[]) {
  const entry = (token: number, logprob: number) => {
    const text = tokenPiece(tokenizer, token);
    return { token: text, logprob, bytes: [...Buffer.from(text, "utf8")] };
  };
  return {
    content: records.map((r, i) => ({ ...entry(tokens[i]!, r.logprob), top_logprobs: r.top.map((t) => entry(t.token, t.logprob)) })),
  };
}
