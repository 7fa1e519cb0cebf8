/** What sizes a KV pool: its memory budget, and what one position takes in each group of layers. */
export interface PoolSizing {
  budgetBytes: number;
  blockSize: number;
  /** The context one sequence may fill: the main blocks always hold at least one. */
  contextSize: number;
  /** Bytes of K/V one position takes in the layers without a window and in the sliding-window layers (0: none kept apart). */
  globalBytesPerToken: number;
  windowBytesPerToken: number;
  /** The sliding window, and the batching the window blocks must serve. */
  window: number;
  maxSeqs: number;
  maxBatchTokens: number;
}

/**
 * Blocks of the main pool and of the sliding-window layers' pool. Without window layers kept apart: the budget's
 * worth of blocks (and one context). With them, the window pool needs no more than every sequence's window plus
 * one step's tokens (llama.cpp sizes its SWA cache n_seq · (window + n_ubatch) likewise), never more than the
 * budget gave all layers before, and the main pool takes the rest of the budget: positions the window layers no
 * longer keep become room for more context.
 */
export function kvPoolSizes(s: PoolSizing): { nBlocks: number; nWindowBlocks: number } {
  const bs = s.blockSize, contextBlocks = Math.ceil(s.contextSize / bs);
  const allBlocks = Math.floor(s.budgetBytes / ((s.globalBytesPerToken + s.windowBytesPerToken) * bs));
  if (s.windowBytesPerToken === 0) return { nBlocks: Math.max(allBlocks, contextBlocks), nWindowBlocks: 0 };
  const windowNeed = s.maxSeqs * (Math.ceil((s.window - 1) / bs) + 2) + Math.ceil(s.maxBatchTokens / bs) + 1;
  const nWindowBlocks = Math.max(Math.min(allBlocks, windowNeed), Math.ceil((s.window - 1 + s.maxBatchTokens) / bs) + 1);
  const rest = s.budgetBytes - nWindowBlocks * s.windowBytesPerToken * bs;
  const nBlocks = Math.max(Math.floor(rest / (s.globalBytesPerToken * bs)), contextBlocks);
  return { nBlocks, nWindowBlocks };
}
