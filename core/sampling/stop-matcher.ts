import { SamplingError } from "./errors.ts";

/**
 * Finds stop strings in streamed text without ever emitting part of one: text that could be the beginning of a
 * stop string is held back until the following text shows it is not (or `flush` releases it at the end).
 */
export class StopMatcher {
  private readonly stops: readonly string[];
  private held = "";
  private stopped = false;

  constructor(stops: string[]) {
    if (!Array.isArray(stops)) throw new SamplingError(`stop must be an array of strings, got ${typeof stops}`);
    stops.forEach((s, i) => {
      if (typeof s !== "string" || s.length === 0) {
        throw new SamplingError(`stop[${i}] must be a non-empty string, got ${JSON.stringify(s)}`);
      }
    });
    this.stops = [...stops];
  }

  /** Adds newly generated text; returns what can be shown now, and whether a stop string has been reached (the
   *  stop string and anything after it are never emitted; later pushes emit nothing). */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.stopped) return { emit: "", stopped: true };
    const buffer = this.held + text;
    const stopAt = this.earliestStop(buffer);
    if (stopAt >= 0) {
      this.stopped = true;
      this.held = "";
      return { emit: buffer.slice(0, stopAt), stopped: true };
    }
    const holdFrom = buffer.length - this.longestSuffixStartingAStop(buffer);
    this.held = buffer.slice(holdFrom);
    return { emit: buffer.slice(0, holdFrom), stopped: false };
  }

  /** The text still held back, for when generation ends without a stop (e.g. max tokens or end of text). */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return rest;
  }

  private earliestStop(buffer: string): number {
    let earliest = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (earliest < 0 || at < earliest)) earliest = at;
    }
    return earliest;
  }

  /** Length of the longest suffix of `buffer` that is a proper prefix of some stop string: every later match must
   *  start inside it, so it is all that needs holding back. */
  private longestSuffixStartingAStop(buffer: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let len = Math.min(stop.length - 1, buffer.length); len > longest; len--) {
        if (buffer.endsWith(stop.slice(0, len))) {
          longest = len;
          break;
        }
      }
    }
    return longest;
  }
}
