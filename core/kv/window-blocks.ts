import type { BlockManager } from "./block-manager.ts";

/**
 * The KV blocks of a model's sliding-window layers, kept apart from the other layers' (llama.cpp's iSWA cache: one
 * cache for the global layers, one for the window layers). A query at position p of such a layer attends only to
 * positions p - window + 1 .. p, so a sequence's window table needs only the blocks from the one holding the
 * window's first position of its next token on: the blocks before it are dropped (-1 in the table) and freed as
 * the sequence advances, and the table's live blocks stay ~window + chunk positions, however long the sequence.
 * The window tables index logical blocks as the main tables do (block i holds positions i*blockSize ..), with the
 * same block size and the same prefix-cache keys.
 */
export class WindowBlocks {
  constructor(readonly blocks: BlockManager, readonly window: number) {}

  /** The first logical block any token at position `pos` or later attends. */
  firstLive(pos: number): number {
    return Math.floor(Math.max(0, pos - this.window + 1) / this.blocks.blockSize);
  }

  /**
   * Frees the table's blocks that no token from position `computed` on attends, and grows it to cover nTokens
   * positions. Returns false, dropping nothing it could not have dropped anyway, when the pool is short.
   */
  ensure(table: number[], computed: number, nTokens: number): boolean {
    this.blocks.dropBefore(table, this.firstLive(computed));
    return this.blocks.ensureCapacity(table, nTokens);
  }

  /** Blocks a sequence holds at most while computing `chunk` tokens in one step. */
  blocksPerSequence(chunk: number): number {
    return Math.ceil((this.window - 1 + chunk) / this.blocks.blockSize) + 1;
  }

  /** The most tokens one step may compute for one sequence so that its window blocks fit in the whole pool. */
  maxChunk(): number {
    return Math.max(1, (this.blocks.numBlocks - 1) * this.blocks.blockSize - this.window + 1);
  }

  /**
   * A prefix hit of `target` positions (found in the main blocks): takes the cached window blocks its next token
   * attends into the empty `table` and returns how many positions both caches hold, target or fewer (0: none).
   * When a block is missing the hit shrinks to the start of that block, which needs earlier blocks instead.
   */
  acquirePrefix(tokens: readonly number[], target: number, hashes: number[], table: number[]): number {
    let hit = target;
    while (hit > 0) {
      const missing = this.blocks.acquireRange(tokens, this.firstLive(hit), hit, hashes, table);
      if (missing < 0) return hit;
      hit = missing * this.blocks.blockSize;
    }
    return 0;
  }
}
