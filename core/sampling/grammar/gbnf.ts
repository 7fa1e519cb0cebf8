import { GrammarError } from "./errors.ts";

/**
 * GBNF, llama.cpp's grammar format, parsed as llama.cpp's llama_grammar_parser parses it (same syntax, same
 * rewriting of repetitions into generated rules, same limits), so its grammar files parse unchanged. Errors name
 * the line and column.
 */

/** Element kinds, numbered as llama.h's llama_gretype. */
export const El = {
  END: 0, ALT: 1, RULE_REF: 2, CHAR: 3, CHAR_NOT: 4, CHAR_RNG_UPPER: 5, CHAR_ALT: 6, CHAR_ANY: 7, TOKEN: 8, TOKEN_NOT: 9,
} as const;

/** A rule: [type, value, type, value, ...] ending with END; alternatives separated by ALT. */
export type Rule = number[];

export interface ParsedGrammar {
  rules: Rule[];
  /** Rule names (generated rules too: `name_7`), by id. */
  names: string[];
  /** Id of the start rule. */
  root: number;
}

export interface ParseOptions {
  /** Start symbol (default "root"). */
  root?: string;
  /** Resolves `<token text>` to a token id (exactly one token, special tokens recognised); without it such
   *  references are an error. `<[id]>` needs no vocabulary. */
  tokenId?: (text: string) => number | undefined;
}

/** llama.cpp's MAX_REPETITION_THRESHOLD. */
const MAX_REPETITION = 2000;
const UNBOUNDED = -1;

export function parseGbnf(source: string, options: ParseOptions = {}): ParsedGrammar {
  const p = new Parser(source, options.tokenId);
  p.parse();
  const rootName = options.root ?? "root";
  const root = p.symbols.get(rootName);
  if (root === undefined) throw new GrammarError(`grammar does not define the start symbol '${rootName}'`);
  const names: string[] = [];
  for (const [name, id] of p.symbols) names[id] = name;
  checkLeftRecursion(p.rules, names);
  return { rules: p.rules, names, root };
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isWordChar = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2d || isDigit(c);
const ch = (s: string) => s.codePointAt(0)!;
const [QUOTE, LBRACK, RBRACK, CARET, DASH, LT, BANG, LPAREN, RPAREN, DOT, STAR, PLUS, QMARK, LBRACE, RBRACE, COMMA, PIPE, COLON, EQ, BSLASH, HASH, SPACE, TAB, CR, LF] =
  [..."\"[]^-<!().*+?{},|:=\\# \t\r\n"].map(ch) as number[];

class Parser {
  /** The source as code points, 0-terminated like the C string llama.cpp walks. */
  private readonly cps: number[];
  /** Code-point index where each line starts, for error positions. */
  private readonly lineStarts: number[] = [0];
  readonly symbols = new Map<string, number>();
  readonly rules: Rule[] = [];
  /** Where each rule was first referenced, for "undefined rule" errors. */
  private readonly firstRef = new Map<number, number>();

  constructor(source: string, private readonly tokenId: ParseOptions["tokenId"]) {
    this.cps = Array.from(source, (c) => c.codePointAt(0)!);
    this.cps.forEach((c, i) => c === LF && this.lineStarts.push(i + 1));
    this.cps.push(0);
  }

  parse(): void {
    let pos = this.space(0, true);
    while (this.cps[pos] !== 0) pos = this.rule(pos);
    for (let id = 0; id < this.symbols.size; id++) {
      if (this.rules[id] === undefined) {
        const name = [...this.symbols].find(([, v]) => v === id)![0];
        this.fail(this.firstRef.get(id) ?? 0, `undefined rule '${name}'`);
      }
    }
  }

  private fail(pos: number, what: string): never {
    let line = 0;
    while (line + 1 < this.lineStarts.length && this.lineStarts[line + 1]! <= pos) line++;
    const col = pos - this.lineStarts[line]! + 1;
    const rest = String.fromCodePoint(...this.cps.slice(pos, Math.min(pos + 20, this.cps.length - 1)));
    const near = rest.length > 0 ? ` near ${JSON.stringify(rest.split("\n")[0])}` : " at end of input";
    throw new GrammarError(`grammar line ${line + 1}, column ${col}: ${what}${near}`);
  }

  private symbolId(name: string): number {
    let id = this.symbols.get(name);
    if (id === undefined) this.symbols.set(name, (id = this.symbols.size));
    return id;
  }

  /** A fresh rule id named base_N (llama.cpp's generate_symbol_id; never reuses a name the grammar defines). */
  private generatedId(base: string): number {
    const id = this.symbols.size;
    let name = `${base}_${id}`;
    for (let n = 1; this.symbols.has(name); n++) name = `${base}_${id}_${n}`;
    this.symbols.set(name, id);
    return id;
  }

  private space(pos: number, newlineOk: boolean): number {
    const c = this.cps;
    while (c[pos] === SPACE || c[pos] === TAB || c[pos] === HASH || (newlineOk && (c[pos] === CR || c[pos] === LF))) {
      if (c[pos] === HASH) while (c[pos] !== 0 && c[pos] !== CR && c[pos] !== LF) pos++;
      else pos++;
    }
    return pos;
  }

  private name(pos: number): number {
    const start = pos;
    while (isWordChar(this.cps[pos]!)) pos++;
    if (pos === start) this.fail(pos, "expecting a rule name");
    return pos;
  }

  private int(pos: number): number {
    const start = pos;
    while (isDigit(this.cps[pos]!)) pos++;
    if (pos === start) this.fail(pos, "expecting an integer");
    return pos;
  }

  private text(from: number, to: number): string {
    return String.fromCodePoint(...this.cps.slice(from, to));
  }

  private hex(pos: number, size: number): [number, number] {
    let value = 0, i = 0;
    for (; i < size && this.cps[pos + i] !== 0; i++) {
      const d = parseInt(String.fromCodePoint(this.cps[pos + i]!), 16);
      if (Number.isNaN(d)) break;
      value = value * 16 + d;
    }
    if (i !== size) this.fail(pos, `expecting ${size} hex digits`);
    return [value, pos + size];
  }

  private char(pos: number): [number, number] {
    const c = this.cps;
    if (c[pos] === BSLASH) {
      switch (String.fromCodePoint(c[pos + 1] ?? 0)) {
        case "x": return this.hex(pos + 2, 2);
        case "u": return this.hex(pos + 2, 4);
        case "U": return this.hex(pos + 2, 8);
        case "t": return [TAB, pos + 2];
        case "r": return [CR, pos + 2];
        case "n": return [LF, pos + 2];
        case "\\": case "\"": case "[": case "]": case "-": return [c[pos + 1]!, pos + 2];
        default: this.fail(pos, "unknown escape");
      }
    }
    if (c[pos] !== 0) return [c[pos]!, pos + 1];
    this.fail(pos, "unexpected end of input");
  }

  private token(pos: number): [number, number] {
    const start = pos;
    const c = this.cps;
    if (c[pos] !== LT) this.fail(pos, "expecting '<'");
    pos++;
    if (c[pos] === LBRACK) {
      const end = this.int(pos + 1);
      const id = Number(this.text(pos + 1, end));
      if (c[end] !== RBRACK) this.fail(end, "expecting ']'");
      if (c[end + 1] !== 0x3e) this.fail(end + 1, "expecting '>'");
      return [id, end + 2];
    }
    while (c[pos] !== 0 && c[pos] !== 0x3e) pos++;
    if (c[pos] !== 0x3e) this.fail(pos, "expecting '>'");
    const text = this.text(start, pos + 1);
    if (!this.tokenId) this.fail(start, `token ${text} needs a model vocabulary (use <[id]> for a token id)`);
    const id = this.tokenId(text);
    if (id === undefined) this.fail(start, `${text} is not exactly one token of this vocabulary`);
    return [id, pos + 1];
  }

  private alternates(pos: number, ruleName: string, ruleId: number, nested: boolean): number {
    const rule: Rule = [];
    pos = this.sequence(pos, ruleName, rule, nested);
    while (this.cps[pos] === PIPE) {
      rule.push(El.ALT, 0);
      pos = this.space(pos + 1, true);
      pos = this.sequence(pos, ruleName, rule, nested);
    }
    rule.push(El.END, 0);
    this.rules[ruleId] = rule;
    return pos;
  }

  private sequence(pos: number, ruleName: string, rule: Rule, nested: boolean): number {
    const c = this.cps;
    let lastSymStart = rule.length;
    let prevRules = 1;

    // llama.cpp's rewrite: S{m,n} -> S repeated m times, then n-m nested optional rules; S{m,} -> S' ::= S S' |.
    const repeat = (at: number, min: number, max: number) => {
      const unbounded = max === UNBOUNDED;
      if (lastSymStart === rule.length) this.fail(at, "expecting an item before */+/?/{");
      const prev = rule.slice(lastSymStart);
      const total = !unbounded && max > 0 ? max : min > 0 ? min : 1;
      if (prevRules * total > MAX_REPETITION) this.fail(at, `repetition makes more than ${MAX_REPETITION} copies of rules`);
      if (min === 0) rule.length = lastSymStart;
      else for (let i = 1; i < min; i++) rule.push(...prev);
      let lastRec = 0;
      const nOpt = unbounded ? 1 : max - min;
      for (let i = 0; i < nOpt; i++) {
        const rec = prev.slice();
        const recId = this.generatedId(ruleName);
        if (i > 0 || unbounded) rec.push(El.RULE_REF, unbounded ? recId : lastRec);
        rec.push(El.ALT, 0, El.END, 0);
        this.rules[recId] = rec;
        lastRec = recId;
      }
      if (nOpt > 0) rule.push(El.RULE_REF, lastRec);
      prevRules *= total;
    };

    while (c[pos] !== 0) {
      const at = pos;
      if (c[pos] === QUOTE) {
        pos++;
        lastSymStart = rule.length;
        prevRules = 1;
        while (c[pos] !== QUOTE) {
          if (c[pos] === 0) this.fail(at, "unterminated string literal");
          const [value, next] = this.char(pos);
          pos = next;
          rule.push(El.CHAR, value);
        }
        pos = this.space(pos + 1, nested);
      } else if (c[pos] === LBRACK) {
        pos++;
        let startType: number = El.CHAR;
        if (c[pos] === CARET) {
          pos++;
          startType = El.CHAR_NOT;
        }
        lastSymStart = rule.length;
        prevRules = 1;
        while (c[pos] !== RBRACK) {
          if (c[pos] === 0) this.fail(at, "unterminated character class");
          const [value, next] = this.char(pos);
          pos = next;
          rule.push(lastSymStart < rule.length ? El.CHAR_ALT : startType, value);
          if (c[pos] === DASH && c[pos + 1] !== RBRACK) {
            if (c[pos + 1] === 0) this.fail(at, "unterminated character class");
            const [upper, after] = this.char(pos + 1);
            pos = after;
            rule.push(El.CHAR_RNG_UPPER, upper);
          }
        }
        pos = this.space(pos + 1, nested);
      } else if (c[pos] === LT || c[pos] === BANG) {
        let type: number = El.TOKEN;
        if (c[pos] === BANG) {
          type = El.TOKEN_NOT;
          pos++;
        }
        const [id, end] = this.token(pos);
        lastSymStart = rule.length;
        prevRules = 1;
        rule.push(type, id);
        pos = this.space(end, nested);
      } else if (isWordChar(c[pos]!)) {
        const end = this.name(pos);
        const ref = this.symbolId(this.text(pos, end));
        if (!this.firstRef.has(ref)) this.firstRef.set(ref, pos);
        pos = this.space(end, nested);
        lastSymStart = rule.length;
        prevRules = 1;
        rule.push(El.RULE_REF, ref);
      } else if (c[pos] === LPAREN) {
        pos = this.space(pos + 1, true);
        const before = this.symbols.size;
        const sub = this.generatedId(ruleName);
        pos = this.alternates(pos, ruleName, sub, true);
        prevRules = Math.max(1, this.symbols.size - before);
        lastSymStart = rule.length;
        rule.push(El.RULE_REF, sub);
        if (c[pos] !== RPAREN) this.fail(pos, "expecting ')'");
        pos = this.space(pos + 1, nested);
      } else if (c[pos] === DOT) {
        lastSymStart = rule.length;
        prevRules = 1;
        rule.push(El.CHAR_ANY, 0);
        pos = this.space(pos + 1, nested);
      } else if (c[pos] === STAR) {
        pos = this.space(pos + 1, nested);
        repeat(at, 0, UNBOUNDED);
      } else if (c[pos] === PLUS) {
        pos = this.space(pos + 1, nested);
        repeat(at, 1, UNBOUNDED);
      } else if (c[pos] === QMARK) {
        pos = this.space(pos + 1, nested);
        repeat(at, 0, 1);
      } else if (c[pos] === LBRACE) {
        pos = this.space(pos + 1, nested);
        if (!isDigit(c[pos]!)) this.fail(pos, "expecting an integer");
        let end = this.int(pos);
        const min = Number(this.text(pos, end));
        pos = this.space(end, nested);
        let max = UNBOUNDED;
        if (c[pos] === RBRACE) {
          max = min;
          pos = this.space(pos + 1, nested);
        } else if (c[pos] === COMMA) {
          pos = this.space(pos + 1, nested);
          if (isDigit(c[pos]!)) {
            end = this.int(pos);
            max = Number(this.text(pos, end));
            pos = this.space(end, nested);
          }
          if (c[pos] !== RBRACE) this.fail(pos, "expecting '}'");
          pos = this.space(pos + 1, nested);
        } else {
          this.fail(pos, "expecting ',' or '}'");
        }
        if (min > MAX_REPETITION) this.fail(at, `more than ${MAX_REPETITION} repetitions`);
        if (max !== UNBOUNDED && max > MAX_REPETITION) max = UNBOUNDED;
        if (max !== UNBOUNDED && max < min) this.fail(at, `repetition {${min},${max}} has a maximum below its minimum`);
        repeat(at, min, max);
      } else {
        break;
      }
    }
    return pos;
  }

  private rule(pos: number): number {
    const start = pos;
    const end = this.name(pos);
    pos = this.space(end, false);
    const name = this.text(start, end);
    const id = this.symbolId(name);
    if (!(this.cps[pos] === COLON && this.cps[pos + 1] === COLON && this.cps[pos + 2] === EQ)) this.fail(pos, "expecting ::=");
    pos = this.space(pos + 3, true);
    pos = this.alternates(pos, name, id, false);
    if (this.cps[pos] === CR) pos += this.cps[pos + 1] === LF ? 2 : 1;
    else if (this.cps[pos] === LF) pos++;
    else if (this.cps[pos] !== 0) this.fail(pos, "expecting a newline or the end of the rule");
    return this.space(pos, true);
  }
}

/** llama.cpp refuses left-recursive grammars (its matcher would loop); so do we, naming the rule. */
function checkLeftRecursion(rules: Rule[], names: string[]): void {
  const visited = new Array<boolean>(rules.length).fill(false);
  const inProgress = new Array<boolean>(rules.length).fill(false);
  const mayBeEmpty = new Array<boolean>(rules.length).fill(false);
  const endOfSeq = (t: number) => t === El.END || t === El.ALT;
  let recursive = -1;
  const detect = (r: number): boolean => {
    if (inProgress[r]) {
      recursive = r;
      return true;
    }
    inProgress[r] = true;
    const rule = rules[r]!;
    let atStart = true;
    for (let i = 0; i < rule.length; i += 2) {
      if (endOfSeq(rule[i]!)) {
        if (atStart) {
          mayBeEmpty[r] = true;
          break;
        }
        atStart = true;
      } else atStart = false;
    }
    let recurse = true;
    for (let i = 0; i < rule.length; i += 2) {
      if (rule[i] === El.RULE_REF && recurse) {
        if (detect(rule[i + 1]!)) return true;
        if (!mayBeEmpty[rule[i + 1]!]) recurse = false;
      } else if (endOfSeq(rule[i]!)) recurse = true;
      else recurse = false;
    }
    inProgress[r] = false;
    visited[r] = true;
    return false;
  };
  for (let r = 0; r < rules.length; r++) {
    if (!visited[r] && detect(r)) throw new GrammarError(`grammar rule '${names[recursive]}' is left-recursive (llama.cpp's grammars cannot be)`);
  }
}
