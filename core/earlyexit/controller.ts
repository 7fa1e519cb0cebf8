import type { NativeStepBatch } from "../native.ts";
import type { ScheduledChunk } from "../scheduler/scheduler.ts";
import type { Sequence } from "../scheduler/sequence.ts";
import type { ExitPoint } from "./options.ts";

export interface EarlyExitStats {
  /** Mean layers run per generated token. */
  earlyExitMeanLayers: number;
  /** Generated tokens per number of layers run (index = layers). */
  earlyExitHistogram: number[];
}

interface ExitState {
  readonly key: string;
  readonly layers: Int32Array;
  readonly thresholds: Float32Array;
  readonly histogram: number[];
}

/**
 * Early exit inside the batching loop. The native forward exits a step only when every row is confident, so a
 * step carries an exit plan only when it is all one-token decodes of sequences that asked for the same plan;
 * any other step runs at full depth (and counts as such in the stats).
 */
export class EarlyExitController {
  private readonly states = new Map<Sequence, ExitState>();
  private used = new Int32Array(64);

  constructor(private readonly nLayer: number) {}

  attach(seq: Sequence, points: readonly ExitPoint[]): void {
    this.states.set(seq, {
      key: points.map((p) => `${p.layer}:${p.threshold}`).join(","),
      layers: Int32Array.from(points, (p) => p.layer),
      thresholds: Float32Array.from(points, (p) => p.threshold),
      histogram: new Array(this.nLayer + 1).fill(0),
    });
  }

  detach(seq: Sequence): void {
    this.states.delete(seq);
  }

  stats(seq: Sequence): EarlyExitStats | undefined {
    const s = this.states.get(seq);
    if (!s) return undefined;
    const n = s.histogram.reduce((a, c) => a + c, 0);
    const layers = s.histogram.reduce((a, c, l) => a + c * l, 0);
    return { earlyExitMeanLayers: n > 0 ? layers / n : 0, earlyExitHistogram: [...s.histogram] };
  }

  /** Adds this step's exit plan to the batch when the whole step can share one. */
  plan(chunks: readonly ScheduledChunk[], batch: NativeStepBatch): void {
    delete batch.exitLayers;
    delete batch.exitThresholds;
    delete batch.exitLayersUsed;
    const first = this.states.get(chunks[0]!.seq);
    if (!first) return;
    for (const c of chunks) {
      if (c.count !== 1 || !c.sample || this.states.get(c.seq)?.key !== first.key) return;
    }
    if (this.used.length < chunks.length) this.used = new Int32Array(chunks.length * 2);
    batch.exitLayers = first.layers;
    batch.exitThresholds = first.thresholds;
    batch.exitLayersUsed = this.used.subarray(0, chunks.length);
  }

  /** Records the layers each early-exiting sequence's token went through (after the forward). */
  record(chunks: readonly ScheduledChunk[], batch: NativeStepBatch): void {
    let row = 0;
    for (const c of chunks) {
      if (!c.sample) continue;
      const s = this.states.get(c.seq);
      if (s) s.histogram[batch.exitLayersUsed ? batch.exitLayersUsed[row]! : this.nLayer]! += 1;
      row += 1 + c.drafted;
    }
  }
}
