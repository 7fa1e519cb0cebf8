import type { CandidateSet } from "./candidates.ts";

// Truncation filters, llama.cpp semantics. Each renormalises over the current candidates (as llama.cpp's
// softmax over cur_p does) and keeps at least one token.

/**
 * Locally typical sampling: sort by |(-log p) - H| (distance of a token's surprisal from the entropy) and keep the
 * shortest such prefix whose mass exceeds p (llama_sampler_typical).
 */
export function applyTypical(c: CandidateSet, p: number): void {
  if (p >= 1 || c.count <= 1) return;
  const logits = c.currentLogits;
  const total = c.weightSum();
  const logTotal = Math.log(total);
  // H = -sum p log p with log p = (l - max) - log total, so H = log total - sum p (l - max).
  let expectedShift = 0;
  for (let i = 0; i < c.count; i++) {
    const id = c.ids[i];
    expectedShift += (c.weight[id] / total) * (logits[id] - c.maxLogit);
  }
  const entropy = logTotal - expectedShift;
  for (let i = 0; i < c.count; i++) {
    const id = c.ids[i];
    const surprisal = c.maxLogit - logits[id] + logTotal;
    c.key[id] = Math.abs(surprisal - entropy);
  }
  c.keepKeyPrefix(p, total, true);
  c.sortedByLogit = false;
  c.refreshMax(); // the most likely token need not be typical
}

/** Nucleus: keep the most likely tokens until their mass reaches p (llama_sampler_top_p). */
export function applyTopP(c: CandidateSet, p: number): void {
  if (p >= 1 || c.count <= 1) return;
  const logits = c.currentLogits;
  const total = c.weightSum();
  for (let i = 0; i < c.count; i++) {
    const id = c.ids[i];
    c.key[id] = c.maxLogit - logits[id];
  }
  c.sortedByLogit = c.keepKeyPrefix(p, total, false);
}

/** Keep tokens with probability >= p * (largest probability), i.e. logit >= max + log p (llama_sampler_min_p). */
export function applyMinP(c: CandidateSet, p: number): void {
  if (p <= 0 || c.count <= 1) return;
  c.keepAtLeast(c.maxLogit + Math.log(p));
}

/**
 * Writes each candidate's unnormalised probability exp((l - max) / temperature) into c.key and returns their sum.
 * Temperature comes last, as in llama.cpp, so the filters above see the untempered distribution.
 */
export function finalWeights(c: CandidateSet, temperature: number): number {
  const logits = c.currentLogits;
  let total = 0;
  for (let i = 0; i < c.count; i++) {
    const id = c.ids[i];
    const w = Math.exp((logits[id] - c.maxLogit) / temperature);
    c.key[id] = w;
    total += w;
  }
  return total;
}
