import type { NativeStepBatch } from "../native.ts";
import type { ScheduledChunk } from "./scheduler.ts";
import { packTables, packedLength } from "../kv/packed-tables.ts";

/**
 * The typed arrays of one engine step, reused from step to step (grown when a step needs more), so building a
 * batch allocates nothing per token.
 */
export class StepBuffers {
  private tokens = new Int32Array(1024);
  private positions = new Int32Array(1024);
  private seqIds = new Int32Array(1024);
  private tables = new Int32Array(1024);
  private offsets = new Int32Array(64);
  private windowTables = new Int32Array(0);
  private windowOffsets = new Int32Array(0);
  private rows = new Int32Array(64);
  private logits = new Float32Array(0);
  private argmaxes = new Int32Array(64);
  private flags = new Uint8Array(1024);

  /** windowed: the KV cache keeps the sliding-window layers' blocks apart, so each sequence sends its window table. */
  constructor(private readonly nVocab: number, private readonly windowed = false) {}

  fill(chunks: readonly ScheduledChunk[]): NativeStepBatch {
    let nTokens = 0, nRows = 0;
    for (const c of chunks) {
      nTokens += c.count;
      if (c.sample) nRows += 1 + c.drafted;
    }
    const mainTables = chunks.map((c) => c.seq.blockTable);
    this.reserve(nTokens, packedLength(mainTables), chunks.length + 1, nRows);
    const main = packTables(mainTables, this.tables, this.offsets);
    let window: { flat: Int32Array; offsets: Int32Array } | undefined;
    if (this.windowed) {
      const windowTables = chunks.map((c) => c.seq.windowTable);
      this.reserveWindow(packedLength(windowTables), chunks.length + 1);
      window = packTables(windowTables, this.windowTables, this.windowOffsets);
    }

    let t = 0, r = 0, flagged = false;
    chunks.forEach((c, s) => {
      const fromTokens = c.count - c.drafted;
      const promptFlags = c.seq.promptArithmetic;
      flagged ||= promptFlags !== undefined;
      for (let i = 0; i < c.count; i++, t++) {
        this.tokens[t] = i < fromTokens ? c.seq.tokens[c.start + i]! : c.seq.draft[i - fromTokens]!;
        this.positions[t] = c.start + i;
        this.seqIds[t] = s;
        // Generated and draft tokens are computed as lone tokens.
        this.flags[t] = promptFlags !== undefined && c.start + i < c.seq.promptLength ? promptFlags[c.start + i]! : 0;
      }
      // Logits for the last token and, when speculating, after each draft token.
      if (c.sample) for (let i = c.drafted; i >= 0; i--) this.rows[r++] = t - 1 - i;
    });
    return {
      tokens: this.tokens.subarray(0, nTokens),
      positions: this.positions.subarray(0, nTokens),
      seqIds: this.seqIds.subarray(0, nTokens),
      blockTables: main.flat,
      tableOffsets: main.offsets,
      ...(window ? { windowBlockTables: window.flat, windowTableOffsets: window.offsets } : {}),
      logitRows: this.rows.subarray(0, nRows),
      logits: this.logits.subarray(0, nRows * this.nVocab),
      rowArithmetic: flagged ? this.flags.subarray(0, nTokens) : undefined,
    };
  }

  /** Room for the argmax of n sampled rows (a view, valid until the next step). */
  argmax(n: number): Int32Array {
    if (n > this.argmaxes.length) this.argmaxes = new Int32Array(grow(this.argmaxes.length, n));
    return this.argmaxes.subarray(0, n);
  }

  /** Logits of the r-th sampled row of the last step (a view, valid until the next step). */
  logitsRow(r: number): Float32Array {
    return this.logits.subarray(r * this.nVocab, (r + 1) * this.nVocab);
  }

  private reserveWindow(nTable: number, nOffsets: number): void {
    if (nTable > this.windowTables.length) this.windowTables = new Int32Array(grow(this.windowTables.length, nTable));
    if (nOffsets > this.windowOffsets.length) this.windowOffsets = new Int32Array(grow(this.windowOffsets.length, nOffsets));
  }

  private reserve(nTokens: number, nTable: number, nOffsets: number, nRows: number): void {
    if (nTokens > this.tokens.length) {
      const n = grow(this.tokens.length, nTokens);
      this.tokens = new Int32Array(n);
      this.positions = new Int32Array(n);
      this.seqIds = new Int32Array(n);
      this.flags = new Uint8Array(n);
    }
    if (nTable > this.tables.length) this.tables = new Int32Array(grow(this.tables.length, nTable));
    if (nOffsets > this.offsets.length) this.offsets = new Int32Array(grow(this.offsets.length, nOffsets));
    if (nRows > this.rows.length) this.rows = new Int32Array(grow(this.rows.length, nRows));
    if (nRows * this.nVocab > this.logits.length) this.logits = new Float32Array(grow(this.logits.length, nRows * this.nVocab));
  }
}

function grow(current: number, needed: number): number {
  return Math.max(needed, current * 2);
}
