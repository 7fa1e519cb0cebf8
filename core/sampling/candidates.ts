import { noSampleableToken, SamplingError } from "./errors.ts";
import { sortIdsByKey } from "./sort.ts";

/** Below this many candidates, sorting them directly is cheaper than a partition pass. */
const PREFILTER_MIN_CANDIDATES = 2048;
/** The pre-filter's key bins: BINS_PER_NAT per nat of key, PREFILTER_BINS in all; keys beyond share the last. */
const BINS_PER_NAT = 4;
const PREFILTER_BINS = 256;
/** Relative margin below the target mass within which bins are not trusted to be certainly kept. */
const SURE_MARGIN = 1e-4;

/** How `CandidateSet.keepFirst` ended. */
export type KeepFirstResult = "kept" | "too-few" | "gave-up";

/**
 * The tokens still in the running, as ids in a preallocated Int32Array, plus token-indexed scratch (sort keys,
 * weights). Filters narrow the set in place; nothing here allocates after construction.
 */
export class CandidateSet {
  readonly ids: Int32Array;
  count = 0;
  /** Token-indexed scratch: sort keys during filtering, final weights after `finalWeights`. */
  readonly key: Float32Array;
  /** Token-indexed exp(logit - maxLogit) as of the last `weightSum`, so later passes need no exp again. */
  readonly weight: Float32Array;
  /** True when ids[0..count) are in descending logit order. */
  sortedByLogit = false;
  maxLogit = -Infinity;
  private logits: Float32Array = new Float32Array(0);
  private readonly binMass = new Float64Array(PREFILTER_BINS);

  constructor(vocabSize: number) {
    this.ids = new Int32Array(vocabSize);
    this.key = new Float32Array(vocabSize);
    this.weight = new Float32Array(vocabSize);
  }

  get currentLogits(): Float32Array {
    return this.logits;
  }

  /** Every token with a finite logit, unsorted (topK 0); only those in `among` when given (a grammar's mask). */
  loadAll(logits: Float32Array, among?: Int32Array): void {
    this.logits = logits;
    let count = 0;
    if (among) {
      for (let i = 0; i < among.length; i++) if (logits[among[i]!] > -Infinity) this.ids[count++] = among[i]!;
    } else {
      for (let t = 0; t < logits.length; t++) if (logits[t] > -Infinity) this.ids[count++] = t;
    }
    this.finishLoad(count, false);
  }

  /**
   * The k highest logits (of the tokens in `among`, when given; of the tokens whose bit is set in `allowed`, when
   * given), sorted descending. A min-heap of size k over the vocabulary: most tokens lose one comparison against
   * the heap's minimum, so this is O(V) in practice instead of sorting V entries (and `allowed` is read only for
   * the few that win it).
   */
  loadTopK(logits: Float32Array, k: number, among?: Int32Array, allowed?: Uint32Array): void {
    this.logits = logits;
    const heap = this.ids;
    let size = 0;
    let entryBar = -Infinity; // the heap's minimum once it is full: what a token must beat to get in
    const n = among ? among.length : logits.length;
    for (let i = 0; i < n; i++) {
      const t = among ? among[i]! : i;
      const l = logits[t];
      if (!(l > entryBar)) continue; // also skips banned (-Infinity) and NaN
      if (allowed && (allowed[t >>> 5]! & (1 << (t & 31))) === 0) continue;
      if (size < k) {
        heap[size] = t;
        this.siftUp(size++);
        if (size === k) entryBar = logits[heap[0]];
      } else {
        heap[0] = t;
        this.siftDown(0, size);
        entryBar = logits[heap[0]];
      }
    }
    // Heap sort of a min-heap: popping the minimum to the end leaves the array in descending order.
    for (let end = size - 1; end > 0; end--) {
      const top = heap[0];
      heap[0] = heap[end];
      heap[end] = top;
      this.siftDown(0, end);
    }
    this.finishLoad(size, true);
  }

  /** Largest logit among the candidates (after a filter may have dropped the previous maximum). */
  refreshMax(): void {
    if (this.sortedByLogit) {
      this.maxLogit = this.logits[this.ids[0]];
      return;
    }
    let max = -Infinity;
    for (let i = 0; i < this.count; i++) max = Math.max(max, this.logits[this.ids[i]]);
    this.maxLogit = max;
  }

  /** Computes each candidate's exp(logit - maxLogit) into `weight` and returns their sum (the softmax normaliser). */
  weightSum(): number {
    let sum = 0;
    for (let i = 0; i < this.count; i++) {
      const id = this.ids[i];
      const w = Math.exp(this.logits[id] - this.maxLogit);
      this.weight[id] = w;
      sum += w;
    }
    return sum;
  }

  /**
   * Keeps the shortest prefix, in ascending key order, whose probability mass (weights normalised by `total`)
   * reaches `mass` (`strict`: exceeds it) — the common core of top-p and typical sampling. Keys must already be
   * in `key`, weights in `weight` (from `weightSum`). Sorts only the candidates near the cut (see `partition`).
   * Returns whether the kept candidates are fully in key order (false when a certainly-kept head was left unsorted).
   */
  keepKeyPrefix(mass: number, total: number, strict: boolean): boolean {
    const sureCount = this.count > PREFILTER_MIN_CANDIDATES ? this.partition(mass, total) : 0;
    let cumulative = 0;
    for (let i = 0; i < sureCount; i++) cumulative += this.weight[this.ids[i]] / total;
    sortIdsByKey(this.ids, sureCount, this.count, this.key);
    for (let i = sureCount; i < this.count; i++) {
      cumulative += this.weight[this.ids[i]] / total;
      if (strict ? cumulative > mass : cumulative >= mass) {
        this.count = i + 1;
        break;
      }
    }
    return sureCount === 0;
  }

  /**
   * Keeps the first `k` candidates (in their current order) that `keep` accepts: "kept" when k did. Otherwise the
   * set is left unusable and the result says why: "too-few" when fewer than k are accepted, "gave-up" when
   * `giveUp(kept, looked, count, k)` stopped the look early (a caller with a cheaper way to the answer when few are
   * accepted).
   */
  keepFirst(k: number, keep: (id: number) => boolean, giveUp?: (kept: number, looked: number, count: number, k: number) => boolean): KeepFirstResult {
    let kept = 0;
    for (let i = 0; i < this.count && kept < k; i++) {
      if (kept + this.count - i < k) return "too-few";
      if (giveUp?.(kept, i, this.count, k)) return "gave-up";
      const id = this.ids[i]!;
      if (keep(id)) this.ids[kept++] = id;
    }
    if (kept < k) return "too-few";
    this.count = k;
    this.refreshMax();
    return "kept";
  }

  /** Keeps the candidates whose logit is at least `threshold`, preserving their order. */
  keepAtLeast(threshold: number): void {
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      const id = this.ids[i];
      if (this.logits[id] >= threshold) this.ids[kept++] = id;
    }
    this.count = kept;
  }

  /**
   * Splits the candidates without sorting them, by one pass summing their weights in narrow key bins:
   * - bins whose cumulative mass stays clearly below `mass` are certainly kept whole (moved to the front, count
   *   returned); the margin (SURE_MARGIN) absorbs rounding differences from summing in another order;
   * - once bins [0, b) hold more than `mass`, every token in bin b + 1 or later sorts after all of them and is
   *   dropped (bin b is slack, for the same rounding reason);
   * - the rest, near the cut, is left after the certain ones for the caller to sort.
   * Returns 0 (nothing done) when the mass is spread too thin for the bins to decide anything.
   */
  private partition(mass: number, total: number): number {
    const { ids, key, weight, binMass } = this;
    binMass.fill(0);
    for (let i = 0; i < this.count; i++) {
      const id = ids[i];
      binMass[Math.min(Math.floor(key[id] * BINS_PER_NAT), PREFILTER_BINS - 1)] += weight[id];
    }
    const target = mass * total;
    let cumulative = 0;
    let sureBins = 0;
    let bins = 0;
    while (bins < PREFILTER_BINS - 2 && cumulative <= target) {
      if (cumulative + binMass[bins] <= target * (1 - SURE_MARGIN)) sureBins = bins + 1;
      cumulative += binMass[bins++];
    }
    if (cumulative <= target) return 0;
    // Three-way partition in place: [certainly kept | near the cut | dropped].
    const sureLimit = sureBins / BINS_PER_NAT;
    const dropLimit = (bins + 1) / BINS_PER_NAT;
    let sure = 0;
    let next = 0;
    let end = this.count;
    while (next < end) {
      const id = ids[next];
      const k = key[id];
      if (k < sureLimit) {
        ids[next++] = ids[sure];
        ids[sure++] = id;
      } else if (k < dropLimit) {
        next++;
      } else {
        ids[next] = ids[--end];
        ids[end] = id;
      }
    }
    this.count = end;
    return sure;
  }

  private finishLoad(count: number, sorted: boolean): void {
    this.count = count;
    this.sortedByLogit = sorted;
    this.refreshMax();
    if (count === 0) {
      throw noSampleableToken();
    }
    if (this.maxLogit === Infinity) throw new SamplingError("logits contain +Infinity");
  }

  private siftUp(i: number): void {
    const { ids: heap, logits } = this;
    const id = heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (logits[heap[parent]] <= logits[id]) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = id;
  }

  private siftDown(i: number, size: number): void {
    const { ids: heap, logits } = this;
    const id = heap[i];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && logits[heap[child + 1]] < logits[heap[child]]) child++;
      if (logits[heap[child]] >= logits[id]) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = id;
  }
}
