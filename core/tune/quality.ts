import { stepwiseScorer } from "../earlyexit/stepwise-scorer.ts";
import type { Engine } from "../engine.ts";
import { perplexity } from "../perplexity.ts";
import { changesOutput, type TunePoint } from "./space.ts";

export interface QualityVerdict {
  readonly ppl: number;
  /** Perplexity of the exact configuration (f16 KV, full depth) on the same text. */
  readonly reference: number;
  /** ppl / reference - 1. */
  readonly rise: number;
  readonly ok: boolean;
}

/** Chunks of at most this many tokens, at most MAX_CHUNKS of them: the guard must stay a small part of the budget. */
const CHUNK_TOKENS = 128;
const MAX_CHUNKS = 2;
const MIN_TOKENS = 16;

/**
 * The quality guard: a configuration that changes outputs (early exit, q8_0 KV) is scored for perplexity on the
 * workload's text, decoded token by token as generation runs it (so exits happen as they would), and rejected when
 * its perplexity rises more than `maxRise` (0.01 = +1%) over the exact configuration's on the same text. Verdicts
 * are cached by the settings that change outputs.
 */
export class QualityGuard {
  private referencePpl: Promise<number> | undefined;
  private readonly verdicts = new Map<string, Promise<QualityVerdict>>();
  private readonly contextSize: number;

  constructor(private readonly engine: Engine, private readonly text: string, readonly maxRise: number, private readonly signal?: AbortSignal) {
    if (!(maxRise >= 0)) throw new RangeError(`the perplexity bound must be a rise of 0 or more, got ${maxRise}`);
    const tokens = engine.tokenize(text, { addSpecial: true }).length;
    if (tokens < MIN_TOKENS) throw new RangeError(`the quality guard needs at least ${MIN_TOKENS} tokens of workload text, got ${tokens}`);
    this.contextSize = Math.min(CHUNK_TOKENS, tokens, engine.contextSize);
  }

  /** The verdict for `p` (undefined when `p` does not change outputs, so needs none). */
  async check(p: TunePoint): Promise<QualityVerdict | undefined> {
    if (!changesOutput(p)) return undefined;
    const key = JSON.stringify([p.kvType, p.earlyExit ?? null]);
    let v = this.verdicts.get(key);
    if (!v) {
      v = (async () => {
        const reference = await (this.referencePpl ??= this.score({ kvType: "f16" }));
        const ppl = await this.score(p);
        const rise = ppl / reference - 1;
        return { ppl, reference, rise, ok: rise <= this.maxRise };
      })();
      this.verdicts.set(key, v);
      v.catch(() => this.verdicts.delete(key));
    }
    return v;
  }

  private async score(p: Pick<TunePoint, "kvType" | "earlyExit">): Promise<number> {
    const scorer = stepwiseScorer(this.engine, { contextSize: this.contextSize, kvType: p.kvType, earlyExit: p.earlyExit });
    return (await perplexity(scorer, this.text, { contextSize: this.contextSize, maxChunks: MAX_CHUNKS, signal: this.signal })).ppl;
  }
}
