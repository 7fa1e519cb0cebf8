import { blockHash } from "./block-hash.ts";

/**
 * Hands out fixed-size KV blocks from the native pool to sequences. A sequence's block table maps its logical
 * block i (positions i*blockSize ..) to a physical block. Blocks are reference-counted so that several
 * sequences can share one.
 *
 * Automatic prefix caching: a block that is full of computed K/V gets a key, the chained hash of its tokens and
 * of every token before it. When the last holder releases it, the block keeps its contents and key and waits in
 * an LRU list; a later sequence whose tokens hash to the same key takes it back instead of recomputing it. Free
 * blocks without a key are handed out first; when none is left the least recently released cached block is
 * evicted. A block with a key is never written again: a sequence that must write into one copies it first.
 *
 * A finished sequence's last, partly filled block is kept too, under its parent's key (a partial block), and any
 * cached block can serve a prefix of its tokens: after the full blocks that match, a new sequence takes the
 * cached block, full or partial, whose first tokens match its own for longest, and copies it before writing.
 * So a chat turn that extends the previous turn's tokens computes only its new tokens, and a branch that differs
 * inside a block reuses the block's common part.
 */
export class BlockManager {
  private readonly refCounts: Int32Array;
  /** Key of each block, or undefined when it holds no complete, registered prefix block. */
  private readonly keys: (number | undefined)[];
  /** The tokens a cached block holds (fewer than blockSize for a partial one), checked on every hit. */
  private readonly keyTokens: (Int32Array | undefined)[];
  /** Key of the block before each cached block (ROOT for a sequence's first block). */
  private readonly parents: (number | undefined)[];
  private readonly byKey = new Map<number, number>();
  /** Cached blocks, full and partial, by the key of the block before them: where partial matches are looked up. */
  private readonly byParent = new Map<number, Set<number>>();
  private readonly freeList: number[];
  /** Released blocks that still hold a cached prefix, oldest first (a Map iterates in insertion order). */
  private readonly lru = new Map<number, true>();
  /** Cached blocks dropped to make room for new ones. */
  evictions = 0;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number,
    /** Copies the K/V of one physical block to another (the native KvCache's copyBlock). */
    private readonly copyBlock: (src: number, dst: number) => void,
  ) {
    this.refCounts = new Int32Array(numBlocks);
    this.keys = new Array<number | undefined>(numBlocks).fill(undefined);
    this.keyTokens = new Array<Int32Array | undefined>(numBlocks).fill(undefined);
    this.parents = new Array<number | undefined>(numBlocks).fill(undefined);
    // Popped from the end: low ids first, which keeps a lightly used pool compact.
    this.freeList = Array.from({ length: numBlocks }, (_, i) => numBlocks - 1 - i);
  }

  /** Blocks that can be handed out now: never used or emptied, plus cached ones nobody holds. */
  get freeBlocks(): number {
    return this.freeList.length + this.lru.size;
  }

  get usedBlocks(): number {
    return this.numBlocks - this.freeBlocks;
  }

  /** Released blocks that still hold a reusable prefix (they count as free too). */
  get cachedBlocks(): number {
    return this.lru.size;
  }

  blocksFor(nTokens: number): number {
    return Math.ceil(nTokens / this.blockSize);
  }

  /** Grows `table` so it covers nTokens positions. Returns false, changing nothing, when the pool is short. */
  ensureCapacity(table: number[], nTokens: number): boolean {
    const missing = this.blocksFor(nTokens) - table.length;
    if (missing <= 0) return true;
    if (missing > this.freeBlocks) return false;
    for (let i = 0; i < missing; i++) table.push(this.allocate());
    return true;
  }

  /**
   * Drops the sequence's references; blocks nobody holds go back to the pool (keyed ones to the LRU cache). A
   * window table's dropped entries (-1, see dropBefore) hold nothing.
   */
  release(table: number[]): void {
    this.truncate(table, 0);
  }

  /** Releases the table's blocks from logical block n on, as release does, keeping the first n. */
  truncate(table: number[], n: number): void {
    for (let i = n; i < table.length; i++) {
      const block = table[i]!;
      if (block < 0 || --this.refCounts[block]! > 0) continue;
      if (this.keys[block] !== undefined) this.lru.set(block, true);
      else this.freeList.push(block);
    }
    if (table.length > n) table.length = n;
  }

  /**
   * A window table's blocks before logical block n are dead (every later token's window starts after them):
   * each is dropped from the table (its entry becomes -1) and, when nobody else holds it, freed, also from the
   * prefix cache: a dead block would only serve a prefix ending inside it, and keeping it would keep the memory
   * the window layers are meant to give back. So a sequence's window blocks serve as a prefix only for the
   * window it ended with (or has now).
   */
  dropBefore(table: number[], n: number): void {
    for (let i = Math.min(n, table.length) - 1; i >= 0 && table[i]! >= 0; i--) {
      const block = table[i]!;
      table[i] = -1;
      if (--this.refCounts[block]! > 0) continue;
      if (this.keys[block] !== undefined) this.forget(block);
      this.freeList.push(block);
    }
  }

  /**
   * Fills an empty `table` with the cached blocks that hold the longest prefix of tokens[0 .. maxTokens): full
   * blocks whose keys match, then the one cached block after them whose first tokens match for longest (that
   * block must be copied before it is written: see makeWritable). Returns how many tokens the table covers and how
   * many of its blocks are whole matches. `hashes` memoizes the sequence's block keys.
   */
  acquirePrefix(tokens: readonly number[], maxTokens: number, hashes: number[], table: number[]): { tokens: number; fullBlocks: number } {
    const bs = this.blockSize, full = Math.floor(maxTokens / bs);
    let i = 0;
    for (; i < full; i++) {
      const block = this.byKey.get(this.keyOf(tokens, i, hashes));
      if (block === undefined || !sameTokens(this.keyTokens[block]!, tokens, i * bs)) break;
      this.hold(block, table);
    }
    let best: number | undefined, bestLength = 0;
    const room = Math.min(maxTokens - i * bs, bs);
    for (const block of this.byParent.get(i === 0 ? ROOT : hashes[i - 1]!) ?? []) {
      const n = commonLength(this.keyTokens[block]!, tokens, i * bs, room);
      if (n > bestLength) [best, bestLength] = [block, n];
    }
    if (best !== undefined) this.hold(best, table);
    return { tokens: i * bs + bestLength, fullBlocks: i };
  }

  /**
   * Fills an empty window `table` with cached blocks holding tokens [firstBlock * blockSize, end): -1 before
   * firstBlock, then full blocks by key and, when `end` falls inside a block, a cached block whose first tokens
   * match up to it (to be copied before it is written, as acquirePrefix's last block). Returns -1 when every
   * block was found, else the highest logical block missing (and leaves the table empty).
   */
  acquireRange(tokens: readonly number[], firstBlock: number, end: number, hashes: number[], table: number[]): number {
    const bs = this.blockSize, n = this.blocksFor(end);
    let missing = -1;
    for (let i = n - 1; i >= firstBlock && missing < 0; i--) {
      const length = Math.min(bs, end - i * bs);
      const found = length === bs ? this.byKey.get(this.keyOf(tokens, i, hashes)) : this.longestSibling(tokens, i, length, hashes);
      if (found === undefined || (length === bs && !sameTokens(this.keyTokens[found]!, tokens, i * bs))) missing = i;
    }
    if (missing >= 0) return missing;
    for (let i = 0; i < n; i++) {
      if (i < firstBlock) { table.push(-1); continue; }
      const length = Math.min(bs, end - i * bs);
      this.hold(length === bs ? this.byKey.get(this.keyOf(tokens, i, hashes))! : this.longestSibling(tokens, i, length, hashes)!, table);
    }
    return -1;
  }

  /** The cached block after logical block i - 1 whose first tokens match tokens[i * blockSize ..] for at least `length`. */
  private longestSibling(tokens: readonly number[], i: number, length: number, hashes: number[]): number | undefined {
    let best: number | undefined, bestLength = length - 1;
    for (const block of this.byParent.get(i === 0 ? ROOT : this.keyOf(tokens, i - 1, hashes)) ?? []) {
      const n = commonLength(this.keyTokens[block]!, tokens, i * this.blockSize, length);
      if (n > bestLength) [best, bestLength] = [block, n];
    }
    return best;
  }

  /**
   * Keeps the sequence's last block, filled with tokens [full * blockSize, computed), as a partial cached block
   * when the sequence ends, so a sequence continuing these tokens can start from it.
   */
  registerPartial(tokens: readonly number[], table: readonly number[], hashes: number[], computed: number): void {
    const bs = this.blockSize, i = Math.floor(computed / bs), block = table[i];
    if (computed % bs === 0 || block === undefined || block < 0 || this.keys[block] !== undefined || this.refCounts[block] !== 1) return;
    const parent = i === 0 ? ROOT : this.keyOf(tokens, i - 1, hashes);
    const own = Int32Array.from(tokens.slice(i * bs, computed));
    for (const other of this.byParent.get(parent) ?? []) if (commonLength(this.keyTokens[other]!, tokens, i * bs, own.length) === own.length) return;
    this.keys[block] = PARTIAL;
    this.cache(block, parent, own);
  }

  /**
   * Registers the sequence's full blocks from `from` up to (excluding) block `to` as cached prefixes. A block
   * whose key another block already holds (two sequences computed the same prefix at once) stays private.
   */
  registerFull(tokens: readonly number[], table: readonly number[], hashes: number[], from: number, to: number): void {
    const bs = this.blockSize;
    for (let i = from; i < to; i++) {
      const block = table[i]!;
      if (block < 0 || this.keys[block] !== undefined) continue; // dropped (window), or reused from the cache: registered already
      const key = this.keyOf(tokens, i, hashes);
      if (this.byKey.has(key)) continue;
      this.byKey.set(key, block);
      this.keys[block] = key;
      this.cache(block, i === 0 ? ROOT : hashes[i - 1]!, Int32Array.from(tokens.slice(i * bs, (i + 1) * bs)));
    }
  }

  private cache(block: number, parent: number, tokens: Int32Array): void {
    this.parents[block] = parent;
    this.keyTokens[block] = tokens;
    let siblings = this.byParent.get(parent);
    if (!siblings) this.byParent.set(parent, (siblings = new Set()));
    siblings.add(block);
  }

  private hold(block: number, table: number[]): void {
    if (this.refCounts[block]++ === 0) this.lru.delete(block);
    table.push(block);
  }

  /**
   * Copy-on-write: makes the block holding position `pos` private to this table and writable (not shared, not
   * a cached prefix), copying its K/V into a fresh block if needed. Returns false when no block is free.
   */
  makeWritable(table: number[], pos: number): boolean {
    const i = Math.floor(pos / this.blockSize);
    const block = table[i];
    if (block === undefined || (this.refCounts[block] === 1 && this.keys[block] === undefined)) return true;
    if (this.freeBlocks === 0) return false;
    const copy = this.allocate();
    this.copyBlock(block, copy);
    table[i] = copy;
    if (--this.refCounts[block]! === 0) this.lru.set(block, true);
    return true;
  }

  private allocate(): number {
    let block = this.freeList.pop();
    if (block === undefined) {
      block = this.lru.keys().next().value!;
      this.forget(block);
      this.evictions++;
    }
    this.refCounts[block] = 1;
    return block;
  }

  /** Takes a cached block out of the prefix cache (and the LRU list). */
  private forget(block: number): void {
    this.lru.delete(block);
    if (this.keys[block] !== PARTIAL) this.byKey.delete(this.keys[block]!);
    const parent = this.parents[block]!, siblings = this.byParent.get(parent)!;
    siblings.delete(block);
    if (siblings.size === 0) this.byParent.delete(parent);
    this.keys[block] = undefined;
    this.keyTokens[block] = undefined;
    this.parents[block] = undefined;
  }

  /** Key of logical block i of `tokens`, chained on the key of block i-1 (memoized in `hashes`). */
  private keyOf(tokens: readonly number[], i: number, hashes: number[]): number {
    for (let j = hashes.length; j <= i; j++) {
      hashes.push(blockHash(j === 0 ? 0 : hashes[j - 1]!, tokens, j * this.blockSize, this.blockSize));
    }
    return hashes[i]!;
  }
}

/** The parent key of a sequence's first block, and the key mark of a partial block (block keys are >= 0). */
const ROOT = -1;
const PARTIAL = -2;

/** How many of the first `max` tokens of `a` equal tokens[start ..]. */
function commonLength(a: Int32Array, tokens: readonly number[], start: number, max: number): number {
  const n = Math.min(a.length, max, tokens.length - start);
  let j = 0;
  while (j < n && a[j] === tokens[start + j]) j++;
  return j;
}

function sameTokens(a: Int32Array, tokens: readonly number[], start: number): boolean {
  for (let j = 0; j < a.length; j++) if (a[j] !== tokens[start + j]) return false;
  return true;
}
