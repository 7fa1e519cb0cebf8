import { THINK_CLOSE, THINK_OPEN, type ThinkingStart } from "./thinking.ts";

/**
 * A lazy grammar (llama.cpp's grammar triggers): the output is free until one of `texts` appears in it, and from
 * the trigger's first character on it must match the grammar (a model answering in prose or calling a tool, as
 * tool_choice "auto" lets it). With `atStart` a trigger counts only at the start of the output (after
 * whitespace). A reasoning model's think block never triggers: the search starts after it.
 */
export interface GrammarTriggers {
  texts: string[];
  atStart?: boolean;
}

const encoder = new TextEncoder();
const OPEN = encoder.encode(THINK_OPEN), CLOSE = encoder.encode(THINK_CLOSE);

/** Watches a lazy grammar's output, token piece by token piece, for the first trigger. */
export class TriggerWatch {
  private readonly triggers: Uint8Array[];
  private bytes = new Uint8Array(256);
  private length = 0;
  /** Where the trigger search starts: after the think block, once it is known whether there is one. */
  private searchFrom: number | undefined;
  private thinking: "unknown" | "inside" | "none";

  constructor(private readonly spec: GrammarTriggers, thinking: ThinkingStart | undefined) {
    this.triggers = spec.texts.map((t) => encoder.encode(t));
    this.thinking = thinking === "thinking" ? "inside" : thinking === "may-think" ? "unknown" : "none";
    if (this.thinking === "none") this.searchFrom = 0;
  }

  /** Adds a token's piece; returns the bytes from the trigger on (the grammar's first input) once one appears. */
  push(piece: Uint8Array): Uint8Array | undefined {
    if (this.length + piece.length > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + piece.length));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(piece, this.length);
    this.length += piece.length;
    const out = this.bytes.subarray(0, this.length);
    if (this.searchFrom === undefined) {
      if (this.thinking === "unknown") {
        const start = firstNonSpace(out, 0);
        if (start === out.length) return undefined;
        if (!startsWith(out, start, OPEN)) {
          if (isPrefixOf(out.subarray(start), OPEN)) return undefined;
          this.thinking = "none";
          this.searchFrom = 0;
        } else this.thinking = "inside";
      }
      if (this.thinking === "inside") {
        const close = indexOf(out, CLOSE, 0);
        if (close < 0) return undefined;
        this.searchFrom = close + CLOSE.length;
      }
    }
    const from = this.searchFrom!;
    if (this.spec.atStart) {
      const start = firstNonSpace(out, from);
      if (start === out.length) return undefined;
      for (const t of this.triggers) {
        if (startsWith(out, start, t)) return out.slice(start);
      }
      // Not a trigger (nor the start of one): this output stays free.
      if (!this.triggers.some((t) => isPrefixOf(out.subarray(start), t))) this.searchFrom = Infinity;
      return undefined;
    }
    // Only where a trigger could end in the new piece: earlier text was searched already.
    const longest = Math.max(...this.triggers.map((t) => t.length));
    const start = Math.max(from, this.length - piece.length - longest + 1);
    let best = -1;
    for (const t of this.triggers) {
      const at = indexOf(out, t, start);
      if (at >= 0 && (best < 0 || at < best)) best = at;
    }
    return best < 0 ? undefined : out.slice(best);
  }
}

function firstNonSpace(b: Uint8Array, from: number): number {
  let i = Math.min(from, b.length);
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x09 || b[i] === 0x0d)) i++;
  return i;
}

function startsWith(b: Uint8Array, at: number, t: Uint8Array): boolean {
  if (at + t.length > b.length) return false;
  for (let i = 0; i < t.length; i++) if (b[at + i] !== t[i]) return false;
  return true;
}

/** Whether `b` is a (proper or whole) prefix of `t`. */
function isPrefixOf(b: Uint8Array, t: Uint8Array): boolean {
  return b.length <= t.length && startsWith(t, 0, b);
}

function indexOf(b: Uint8Array, t: Uint8Array, from: number): number {
  if (!Number.isFinite(from)) return -1;
  return Buffer.from(b.buffer, b.byteOffset, b.length).indexOf(t, from);
}
