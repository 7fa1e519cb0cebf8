import { SchemaError } from "./errors.ts";
import { gbnfClassChar, jsonCharLiteral, mustEscape } from "./gbnf-text.ts";

/**
 * A JSON string character: no \u escape of a surrogate half, so a string's length is the same counted in the
 * grammar's characters or in the parsed string's code points (what minLength/maxLength count).
 */
export const JSON_CHAR =
  '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))';

/** Code point ranges [lo, hi] and whether the set is their complement. */
interface CharSet {
  ranges: [number, number][];
  negated: boolean;
}

const DIGIT: [number, number][] = [[0x30, 0x39]];
const WORD: [number, number][] = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const SPACE: [number, number][] = [[0x09, 0x0d], [0x20, 0x20], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]];
const LINE_ENDS: [number, number][] = [[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]];

/**
 * A JSON Schema `pattern` (an ECMAScript regular expression, matched anywhere in the string unless anchored) as
 * GBNF over the string's JSON text: characters JSON must escape are written escaped. Supported: literals,
 * classes (ranges, negation, \d \w \s), `.`, groups ((...), (?:...), (?<name>...)), alternation, the quantifiers
 * * + ? {n} {n,} {n,m} (lazy or not: the language is the same), ^ at the start and $ at the end. Lookaround,
 * backreferences, word boundaries and Unicode property escapes throw SchemaError.
 */
export function patternToGbnf(pattern: string, at: string): string {
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  let start = 0, end = cps.length;
  const anchoredStart = cps[0] === 0x5e;
  if (anchoredStart) start = 1;
  const anchoredEnd = end > start && cps[end - 1] === 0x24 && !escapedAt(cps, end - 1);
  if (anchoredEnd) end--;
  const p = new PatternParser(cps.slice(start, end), pattern, at);
  const body = p.parse();
  if ((anchoredStart || anchoredEnd) && p.topLevelAlternation) {
    throw new SchemaError(`${at}: pattern ${JSON.stringify(pattern)} has anchors and top-level alternatives; wrap the alternatives in a group`);
  }
  return `${anchoredStart ? "" : "char* "}${body}${anchoredEnd ? "" : " char*"}`;
}

function escapedAt(cps: number[], i: number): boolean {
  let n = 0;
  while (i - 1 - n >= 0 && cps[i - 1 - n] === 0x5c) n++;
  return n % 2 === 1;
}

class PatternParser {
  private pos = 0;
  topLevelAlternation = false;

  constructor(private readonly cps: number[], private readonly source: string, private readonly at: string) {}

  parse(): string {
    const out = this.alternation(0);
    if (this.pos < this.cps.length) this.fail(`unbalanced ')'`);
    return out || '""';
  }

  private fail(what: string): never {
    throw new SchemaError(`${this.at}: pattern ${JSON.stringify(this.source)}: ${what} cannot be enforced by a grammar`);
  }

  private peek(offset = 0): number | undefined {
    return this.cps[this.pos + offset];
  }

  private alternation(depth: number): string {
    const alts = [this.concat(depth)];
    while (this.peek() === 0x7c) {
      this.pos++;
      if (depth === 0) this.topLevelAlternation = true;
      alts.push(this.concat(depth));
    }
    return alts.length === 1 ? alts[0]! : `(${alts.map((a) => a || '""').join(" | ")})`;
  }

  private concat(depth: number): string {
    const parts: string[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c || (c === 0x29 && depth > 0)) break;
      if (c === 0x29) this.fail("an unbalanced ')'");
      const atom = this.atom(depth);
      parts.push(this.quantified(atom));
    }
    return parts.join(" ");
  }

  private atom(depth: number): string {
    const c = this.cps[this.pos++]!;
    switch (c) {
      case 0x28: { // (
        if (this.peek() === 0x3f) {
          const next = this.peek(1);
          if (next === 0x3a) this.pos += 2;
          else if (next === 0x3c && this.peek(2) !== 0x3d && this.peek(2) !== 0x21) {
            while (this.peek() !== undefined && this.peek() !== 0x3e) this.pos++;
            this.pos++;
          } else this.fail("lookaround (?=, (?!, (?<=, (?<!)");
        }
        const inner = this.alternation(depth + 1);
        if (this.peek() !== 0x29) this.fail("an unclosed group");
        this.pos++;
        return `(${inner || '""'})`;
      }
      case 0x5b: return this.charSet(this.classBody());
      case 0x2e: return this.charSet({ ranges: LINE_ENDS, negated: true });
      case 0x5c: return this.escape(false);
      case 0x5e: case 0x24: this.fail("an anchor (^ or $) inside the pattern");
      case 0x2a: case 0x2b: case 0x3f: case 0x7b: case 0x7d: case 0x5d: this.fail(`a stray '${String.fromCodePoint(c)}'`);
      default: return jsonCharLiteral(c);
    }
  }

  private quantified(atom: string): string {
    const c = this.peek();
    let q: string | undefined;
    if (c === 0x2a) q = "*";
    else if (c === 0x2b) q = "+";
    else if (c === 0x3f) q = "?";
    else if (c === 0x7b) {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 24)));
      if (!m) this.fail("a '{' that is not a quantifier");
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === "" ? undefined : Number(m[3]);
      if (max !== undefined && max < min) this.fail(`a quantifier {${min},${max}}`);
      if (min > 2000 || (max ?? 0) > 2000) this.fail(`a quantifier above 2000`);
      this.pos += m[0].length - 1;
      q = `{${min},${max ?? ""}}`;
    }
    if (q === undefined) return atom;
    this.pos++;
    if (this.peek() === 0x3f) this.pos++; // lazy: same language
    if (this.peek() === 0x2a || this.peek() === 0x2b || this.peek() === 0x3f || this.peek() === 0x7b) this.fail("a quantifier of a quantifier");
    return `(${atom})${q}`;
  }

  private lastNegated = false;

  private escape(inClass: boolean): string {
    const set = this.escapeSet(inClass);
    return set.length === 1 && set[0]![0] === set[0]![1] && !this.lastNegated ? jsonCharLiteral(set[0]![0]) : this.charSet({ ranges: set, negated: this.lastNegated });
  }

  /** An escape's code points (after the backslash); sets lastNegated for \D \W \S. */
  private escapeSet(inClass: boolean): [number, number][] {
    const c = this.cps[this.pos++];
    this.lastNegated = false;
    if (c === undefined) this.fail("a trailing backslash");
    const ch = String.fromCodePoint(c);
    switch (ch) {
      case "d": return DIGIT;
      case "w": return WORD;
      case "s": return SPACE;
      case "D": case "W": case "S":
        this.lastNegated = true;
        return ch === "D" ? DIGIT : ch === "W" ? WORD : SPACE;
      case "n": return [[0x0a, 0x0a]];
      case "r": return [[0x0d, 0x0d]];
      case "t": return [[0x09, 0x09]];
      case "f": return [[0x0c, 0x0c]];
      case "v": return [[0x0b, 0x0b]];
      case "0": return [[0, 0]];
      case "x": case "u": {
        const braces = ch === "u" && this.peek() === 0x7b;
        const m = braces
          ? /^\{([0-9a-fA-F]{1,6})\}/.exec(String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 8)))
          : new RegExp(`^[0-9a-fA-F]{${ch === "x" ? 2 : 4}}`).exec(String.fromCodePoint(...this.cps.slice(this.pos, this.pos + 4)));
        if (!m) this.fail(`a malformed \\${ch} escape`);
        this.pos += m[0].length;
        const v = parseInt(braces ? m[1]! : m[0], 16);
        return [[v, v]];
      }
      case "b": if (inClass) return [[0x08, 0x08]]; this.fail("a word boundary \\b");
      case "B": this.fail("a word boundary \\B");
      case "p": case "P": this.fail("a Unicode property escape");
      case "k": this.fail("a named backreference");
      default:
        if (c >= 0x31 && c <= 0x39) this.fail("a backreference");
        if (/[a-zA-Z]/.test(ch)) this.fail(`the escape \\${ch}`);
        return [[c, c]];
    }
  }

  private classBody(): CharSet {
    const negated = this.peek() === 0x5e;
    if (negated) this.pos++;
    const ranges: [number, number][] = [];
    while (this.peek() !== 0x5d) {
      if (this.peek() === undefined) this.fail("an unclosed character class");
      let lo: number;
      if (this.peek() === 0x5c) {
        this.pos++;
        const set = this.escapeSet(true);
        if (this.lastNegated) this.fail("\\D, \\W or \\S inside a class");
        if (set.length > 1 || set[0]![0] !== set[0]![1]) {
          ranges.push(...set);
          continue;
        }
        lo = set[0]![0];
      } else lo = this.cps[this.pos++]!;
      if (this.peek() === 0x2d && this.peek(1) !== 0x5d && this.peek(1) !== undefined) {
        this.pos++;
        let hi: number;
        if (this.peek() === 0x5c) {
          this.pos++;
          const set = this.escapeSet(true);
          if (set.length > 1 || set[0]![0] !== set[0]![1] || this.lastNegated) this.fail("a class range ending in a set escape");
          hi = set[0]![0];
        } else hi = this.cps[this.pos++]!;
        if (hi < lo) this.fail("a class range out of order");
        ranges.push([lo, hi]);
      } else ranges.push([lo, lo]);
    }
    this.pos++;
    return { ranges, negated };
  }

  /** One JSON text character from the set: a GBNF class for what JSON writes raw, escapes for the rest. */
  private charSet(set: CharSet): string {
    const alts: string[] = [];
    const escaped: number[] = [];
    const inSet = (c: number) => set.ranges.some(([lo, hi]) => c >= lo && c <= hi) !== set.negated;
    for (let c = 0; c < 0x20; c++) if (inSet(c)) escaped.push(c);
    for (const c of [0x22, 0x5c]) if (inSet(c)) escaped.push(c);
    if (set.negated) {
      const listed = set.ranges.map(([lo, hi]) => (lo === hi ? gbnfClassChar(lo) : `${gbnfClassChar(lo)}-${gbnfClassChar(hi)}`)).join("");
      alts.push(`[^"\\\\\\x00-\\x1F${listed}]`);
    } else {
      const raw: string[] = [];
      for (const [lo, hi] of set.ranges) {
        // Split around the characters JSON escapes (0x00-0x1F, '"', '\\').
        let from = lo;
        for (let c = lo; c <= Math.min(hi, 0x5c); c++) {
          if (mustEscape(c)) {
            if (c > from) raw.push(range(from, c - 1));
            from = c + 1;
          }
        }
        if (from <= hi) raw.push(range(from, hi));
      }
      if (raw.length > 0) alts.push(`[${raw.join("")}]`);
    }
    for (const c of escaped) alts.push(jsonCharLiteral(c));
    if (alts.length === 0) this.fail("an empty character class");
    return alts.length === 1 ? alts[0]! : `(${alts.join(" | ")})`;
  }
}

function range(lo: number, hi: number): string {
  return lo === hi ? gbnfClassChar(lo) : `${gbnfClassChar(lo)}-${gbnfClassChar(hi)}`;
}
