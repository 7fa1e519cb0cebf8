/** The penalty settings, llama.cpp semantics (llama_sampler_penalties). */
export interface PenaltySettings {
  repeatPenalty: number;
  repeatLastN: number;
  presencePenalty: number;
  frequencyPenalty: number;
}

export function penaltiesActive(s: PenaltySettings): boolean {
  return s.repeatLastN > 0 && (s.repeatPenalty !== 1 || s.presencePenalty !== 0 || s.frequencyPenalty !== 0);
}

/**
 * The last N accepted tokens with their counts, kept incrementally: accept() is O(1) and apply() touches only the
 * distinct tokens of the window, never the whole vocabulary.
 */
export class PenaltyWindow {
  private readonly ring: Int32Array;
  private head = 0;
  private filled = 0;
  private readonly counts: Int32Array; // by token id
  private readonly distinct: Int32Array; // the ids with counts > 0, in [0, distinctCount)
  private distinctCount = 0;
  private readonly slotInDistinct: Int32Array; // by token id: its index in `distinct`, for O(1) removal

  constructor(vocabSize: number, private readonly settings: PenaltySettings) {
    this.ring = new Int32Array(settings.repeatLastN);
    this.counts = new Int32Array(vocabSize);
    this.distinct = new Int32Array(settings.repeatLastN);
    this.slotInDistinct = new Int32Array(vocabSize);
  }

  accept(token: number): void {
    const capacity = this.ring.length;
    if (this.filled === capacity) this.decrement(this.ring[this.head]);
    else this.filled++;
    this.ring[this.head] = token;
    this.head = (this.head + 1) % capacity;
    if (this.counts[token]++ === 0) {
      this.slotInDistinct[token] = this.distinctCount;
      this.distinct[this.distinctCount++] = token;
    }
  }

  /** For each token seen in the window: divide a positive logit by the penalty (multiply a non-positive one), then
   *  subtract count * frequencyPenalty + presencePenalty. */
  apply(logits: Float32Array): void {
    const { repeatPenalty, presencePenalty, frequencyPenalty } = this.settings;
    for (let i = 0; i < this.distinctCount; i++) {
      const token = this.distinct[i];
      const logit = logits[token];
      const repeated = logit <= 0 ? logit * repeatPenalty : logit / repeatPenalty;
      logits[token] = repeated - (this.counts[token] * frequencyPenalty + presencePenalty);
    }
  }

  private decrement(token: number): void {
    if (--this.counts[token] !== 0) return;
    const slot = this.slotInDistinct[token];
    const last = this.distinct[--this.distinctCount];
    this.distinct[slot] = last;
    this.slotInDistinct[last] = slot;
  }
}
