/**
 * Open-addressing hash table from a pair of token ids to (merge rank, merged token id), in typed arrays: merge
 * lookups in BPE's inner loop then hash two integers instead of building and hashing strings.
 */
export class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rank: Int32Array;
  private readonly merged: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.left = new Int32Array(size).fill(-1);
    this.right = new Int32Array(size);
    this.rank = new Int32Array(size);
    this.merged = new Int32Array(size);
    this.mask = size - 1;
  }

  /** Keeps the first entry for a pair, as llama.cpp's bpe_ranks.emplace does. */
  add(l: number, r: number, rank: number, merged: number): void {
    let i = this.slot(l, r);
    while (this.left[i] !== -1) {
      if (this.left[i] === l && this.right[i] === r) return;
      i = (i + 1) & this.mask;
    }
    this.left[i] = l;
    this.right[i] = r;
    this.rank[i] = rank;
    this.merged[i] = merged;
  }

  /** Index of the pair's entry, or -1. */
  find(l: number, r: number): number {
    let i = this.slot(l, r);
    for (;;) {
      const k = this.left[i]!;
      if (k === -1) return -1;
      if (k === l && this.right[i] === r) return i;
      i = (i + 1) & this.mask;
    }
  }

  rankAt(i: number): number {
    return this.rank[i]!;
  }

  mergedAt(i: number): number {
    return this.merged[i]!;
  }

  setMerged(i: number, merged: number): void {
    this.merged[i] = merged;
  }

  private slot(l: number, r: number): number {
    return (Math.imul(l, 0x9e3779b1) ^ Math.imul(r, 0x85ebca6b)) >>> 0 & this.mask;
  }
}
