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
 * worth of blocks (and one context). With them, the budget is split in the proportion one sequence filling the
 * context takes of each (all its positions in the main layers, its window and one step's chunk in the window
 * layers): the positions the window layers no longer keep become room for more context. The window pool needs no
 * more than every sequence's window plus one step's tokens (llama.cpp sizes its SWA cache n_seq · (window +
 * n_ubatch) likewise), and no fewer than one sequence's; the main pool takes the rest, and at least one context.
 */
export function kvPoolSizes(s: PoolSizing): { nBlocks: number; nWindowBlocks: number } {
  const bs = s.blockSize, contextBlocks = Math.ceil(s.contextSize / bs);
  const g = s.globalBytesPerToken * bs, w = s.windowBytesPerToken * bs;
  if (w === 0) return { nBlocks: Math.max(Math.floor(s.budgetBytes / g), contextBlocks), nWindowBlocks: 0 };
  const oneSequence = Math.min(contextBlocks, Math.ceil((s.window - 1 + s.maxBatchTokens) / bs) + 1);
  const everySequence = s.maxSeqs * (Math.ceil((s.window - 1) / bs) + 2) + Math.ceil(s.maxBatchTokens / bs) + 1;
  const share = Math.floor((s.budgetBytes * (oneSequence * w)) / (contextBlocks * g + oneSequence * w) / w);
  const nWindowBlocks = Math.max(Math.min(share, everySequence), Math.ceil((s.window - 1 + s.maxBatchTokens) / bs) + 1);
  const nBlocks = Math.max(Math.floor((s.budgetBytes - nWindowBlocks * w) / g), contextBlocks);
  return { nBlocks, nWindowBlocks };
}
