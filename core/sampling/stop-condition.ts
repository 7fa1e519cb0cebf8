import { SamplingError } from "./errors.ts";
import { StopMatcher } from "./stop-matcher.ts";

export interface StopOptions {
  /** Generation ends before the first occurrence of any of these strings (not emitted). */
  stop?: string[];
  /** Generation ends after this many generated tokens; omitted = no limit. */
  maxTokens?: number;
}

export type FinishReason = "stop" | "length";

/**
 * When one request's generation ends: a stop string (via StopMatcher) or the max-token budget. Feed it each
 * generated token's text; it says what to show and whether (and why) to finish.
 */
export class StopCondition {
  private readonly matcher: StopMatcher;
  private readonly maxTokens: number;
  private generated = 0;

  constructor(options: StopOptions = {}) {
    const { stop = [], maxTokens = Infinity } = options;
    if (maxTokens !== Infinity && !(Number.isSafeInteger(maxTokens) && maxTokens >= 1)) {
      throw new SamplingError(`maxTokens must be an integer >= 1, got ${String(maxTokens)}`);
    }
    this.matcher = new StopMatcher(stop);
    this.maxTokens = maxTokens;
  }

  /** Records one generated token's text. At the token budget, text held back for a possible stop is released. */
  next(text: string): { emit: string; finished: FinishReason | null } {
    this.generated++;
    const { emit, stopped } = this.matcher.push(text);
    if (stopped) return { emit, finished: "stop" };
    if (this.generated >= this.maxTokens) return { emit: emit + this.matcher.flush(), finished: "length" };
    return { emit, finished: null };
  }

  /** Generation ended for another reason (end-of-text token): the text still held back. */
  flush(): string {
    return this.matcher.flush();
  }
}
