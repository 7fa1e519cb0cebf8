/**
 * The tokens greedy drafting computes logits for (the draft model's reduced head): every token seen in the
 * speculating sequences so far — prompt tokens and each token the target emitted. In a small model the output
 * head is most of a token's work (stories15M: 9.2M of 15M multiply-adds), so drafting over the few hundred or
 * thousand tokens a text actually uses makes each draft token several times cheaper. A draft can then only
 * propose a token already seen; when the target wants a new one, verification rejects that position (the output
 * stays the target's) and the token joins the vocabulary for the next step. While the text keeps bringing new
 * tokens (a cold start), most drafts would miss, so the reduced head waits until new tokens have become rare.
 * A prior (the tokens the draft model rates highest, likelyTokens) starts the vocabulary: with one that covers
 * what texts use, new tokens are rare from the start and the reduced head is used from the first step.
 */
export class DraftVocabulary {
  private readonly seen: Uint8Array;
  private readonly ids: number[] = [];
  private synced = 0;
  /** Moving average of "this observed token was new" (1 at the start: everything is new). */
  private newRate = 1;

  /**
   * minSize: distinct tokens before the reduced head is used; maxNewRate: the share of new tokens among recent
   * ones below which it is used (a new token costs the rest of that step's draft).
   */
  constructor(nVocab: number, private readonly minSize = 16, private readonly maxNewRate = 0.1) {
    this.seen = new Uint8Array(nVocab);
  }

  /** Adds a prior's tokens (before any text is observed) and takes new tokens to be rare from here on. */
  seed(prior: ArrayLike<number>): void {
    for (let i = 0; i < prior.length; i++) {
      const t = prior[i]!;
      if (t >= 0 && t < this.seen.length && !this.seen[t]) this.add(t);
    }
    if (prior.length > 0) this.newRate = 0;
  }

  private add(t: number): void {
    this.seen[t] = 1;
    this.ids.push(t);
  }

  observe(tokens: Iterable<number>): void {
    for (const t of tokens) {
      if (t < 0 || t >= this.seen.length) continue;
      const isNew = !this.seen[t];
      this.newRate += ((isNew ? 1 : 0) - this.newRate) / 32;
      if (isNew) this.add(t);
    }
  }

  /** Distinct tokens seen. */
  get size(): number {
    return this.ids.length;
  }

  /** True when drafting should use the reduced head. */
  get active(): boolean {
    return this.ids.length >= this.minSize && this.newRate <= this.maxNewRate;
  }

  /** The head's token ids when tokens were added since the last call (and the head is active), else undefined. */
  takeUpdate(): Int32Array | undefined {
    if (!this.active || this.ids.length === this.synced) return undefined;
    this.synced = this.ids.length;
    return Int32Array.from(this.ids);
  }
}
