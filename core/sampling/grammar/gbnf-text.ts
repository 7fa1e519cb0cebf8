import { SchemaError } from "./errors.ts";

/** Writing GBNF: literals, class characters, JSON string characters and integer ranges. */

/** A GBNF string literal matching exactly `text`. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out + '"';
}

/** A code point written inside a GBNF character class. */
export function gbnfClassChar(c: number): string {
  if (c === 0x5d || c === 0x5b || c === 0x5c || c === 0x2d || c === 0x22 || c === 0x5e) return `\\${String.fromCodePoint(c)}`;
  if (c < 0x20 || c === 0x7f) return `\\x${c.toString(16).padStart(2, "0")}`;
  if (c > 0xffff) return `\\U${c.toString(16).padStart(8, "0")}`;
  return String.fromCodePoint(c);
}

const SHORT_ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: "\\\\", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t", 0x08: "\\b", 0x0c: "\\f" };

/** Code points a JSON string must escape. */
export function mustEscape(c: number): boolean {
  return c < 0x20 || c === 0x22 || c === 0x5c;
}

/** The JSON text of one string character equal to code point c (escaped where JSON requires it). */
export function jsonCharLiteral(c: number): string {
  if (mustEscape(c)) return gbnfLiteral(SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, "0")}`);
  return gbnfLiteral(String.fromCodePoint(c));
}

/** Decimal integers in [lo, hi] (either side may be infinite), without leading zeros, as GBNF alternatives. */
export function intRangeGbnf(lo: number, hi: number): string {
  for (const v of [lo, hi]) {
    if (Number.isFinite(v) && !Number.isSafeInteger(v)) throw new SchemaError(`integer bound ${v} is too large for a grammar (at most 2^53)`);
  }
  const alts: string[] = [];
  if (lo < 0) alts.push(`"-" (${naturals(hi < 0 ? -hi : 1, -lo)})`);
  if (hi >= 0) alts.push(naturals(Math.max(lo, 0), hi));
  return alts.join(" | ");
}

/** Naturals in [a, b], b possibly Infinity. */
function naturals(a: number, b: number): string {
  const la = String(a).length;
  const alts: string[] = [];
  if (b === Infinity) {
    alts.push(sameLength(String(a), "9".repeat(la)));
    alts.push(`[1-9] [0-9]{${la},}`);
  } else {
    const lb = String(b).length;
    for (let len = la; len <= lb; len++) {
      alts.push(sameLength(len === la ? String(a) : "1" + "0".repeat(len - 1), len === lb ? String(b) : "9".repeat(len)));
    }
  }
  return alts.join(" | ");
}

/** Digit strings of equal length in [x, y]. */
function sameLength(x: string, y: string): string {
  if (x === y) return `"${x}"`;
  const rest = x.length - 1;
  if (rest === 0) return `[${x}-${y}]`;
  if (x[0] === y[0]) return `"${x[0]}" (${sameLength(x.slice(1), y.slice(1))})`;
  if (/^0*$/.test(x.slice(1)) && /^9*$/.test(y.slice(1))) return `[${x[0]}-${y[0]}] [0-9]{${rest}}`;
  const alts = [`"${x[0]}" (${sameLength(x.slice(1), "9".repeat(rest))})`];
  const x0 = Number(x[0]), y0 = Number(y[0]);
  if (x0 + 1 <= y0 - 1) alts.push(`[${x0 + 1}-${y0 - 1}] [0-9]{${rest}}`);
  alts.push(`"${y[0]}" (${sameLength("0".repeat(rest), y.slice(1))})`);
  return alts.join(" | ");
}
