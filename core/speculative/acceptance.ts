import type { Sampler } from "../sampling/index.ts";

export interface Judgement {
  /** Whether the draft token stands; otherwise `token` is the replacement drawn from the residual. */
  accepted: boolean;
  token: number;
}

/**
 * Speculative rejection sampling for one drafted position (Leviathan et al. 2023, Chen et al. 2023): with p the
 * target's final distribution (after the request's whole sampler chain) and q the draft's, keep draft token x
 * with probability min(1, p(x)/q(x)); otherwise draw from norm(max(0, p - q)). The emitted token is then
 * distributed exactly as p. `q` undefined means a deterministic proposal (n-gram, greedy drafts): q = one-hot(x).
 * At temperature 0 p is one-hot at the argmax, so this keeps x iff it is the argmax and otherwise emits the
 * argmax — plain greedy decoding, token for token. Randomness comes from the request's own seeded stream.
 */
export function judgeDraft(sampler: Sampler, logits: Float32Array, draft: number, q?: Float32Array): Judgement {
  const p = sampler.probabilities(logits);
  const px = p[draft]!, qx = q ? q[draft]! : 1;
  if (px >= qx || (px > 0 && sampler.random() * qx < px)) return { accepted: true, token: draft };
  // Residual max(0, p - q), drawn in place over p (a scratch view of the sampler).
  let total = 0;
  for (let t = 0; t < p.length; t++) {
    const r = p[t]! - (q ? q[t]! : t === draft ? 1 : 0);
    p[t] = r > 0 ? r : 0;
    total += p[t]!;
  }
  if (!(total > 0)) throw new Error("speculative residual has no mass"); // impossible when px < qx
  let u = sampler.random() * total, last = -1;
  for (let t = 0; t < p.length; t++) {
    if (p[t]! <= 0) continue;
    last = t;
    u -= p[t]!;
    if (u < 0) return { accepted: false, token: t };
  }
  return { accepted: false, token: last }; // rounding left a sliver past the last positive entry
}
