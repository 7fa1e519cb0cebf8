import { El, type ParsedGrammar } from "./gbnf.ts";

/** A set of stacks that no code point can continue (no valid output goes this way). */
export const DEAD = -1;
export const UNKNOWN = -2;
const ASCII = 128;

/**
 * llama.cpp's grammar pushdown automaton (llama_grammar_advance_stack / llama_grammar_accept), with every
 * structure interned to an integer so that masks and transitions can be memoized:
 * - a stack is a node (element position, parent node); node 0 is the empty stack (the grammar is complete);
 * - the matcher's state is a set of stacks, each advanced until its top is a terminal (a character class or a
 *   token), interned as a sorted list of node ids;
 * - a code point moves a set to another set (or DEAD); those transitions are computed once per (set, code point)
 *   and kept (ASCII in a flat table, the rest in a map per set).
 * The language is exactly llama.cpp's: the same elements, advanced and matched by the same rules.
 */
export class StackMachine {
  readonly types: Uint8Array;
  readonly values: Uint32Array;
  private readonly ruleStart: Int32Array;
  /** Fewest bytes (as tokens of single bytes: an upper bound on tokens) that complete the alternative from an
   *  element position on; Infinity when it cannot complete. */
  private readonly restCost: Float64Array;

  private readonly nodePos: number[] = [-1];
  private readonly nodeParent: number[] = [-1];
  private readonly nodeDist: number[] = [0];
  private readonly nodeIds = new Map<number, number>();
  private readonly advanced: (Int32Array | undefined)[] = [];

  private readonly sets: Int32Array[] = [];
  /** Interned sets by a hash of their sorted members: a set id, or the ids sharing the hash. */
  private readonly setIds = new Map<number, number | number[]>();
  /** Per set: the set after a code point, by which of its stacks accept that code point (see computeNext). */
  private readonly byMatching: (Map<number | string, number> | undefined)[] = [];
  /** Per set: the fewest bytes that complete some stack of it. */
  readonly setDist: number[] = [];
  /** Per set: bit 0 = holds the empty stack (may end here), bit 1 = holds a token-element top. */
  private readonly setFlags: number[] = [];
  /** next() for ASCII code points, [set * 128 + cp]; UNKNOWN (-2) until computed. Replaced as it grows. */
  asciiNext = new Int32Array(0);
  private readonly otherNext: (Map<number, number> | undefined)[] = [];
  private leadOk = new Uint8Array(0);
  /** Per element position of a character class: the ASCII code points it accepts, 4 words (on first use). */
  private readonly asciiClasses = new Map<number, Uint32Array>();
  readonly initial: number;

  constructor(g: ParsedGrammar) {
    const starts: number[] = [];
    let n = 0;
    for (const r of g.rules) {
      starts.push(n);
      n += r.length / 2;
    }
    this.types = new Uint8Array(n);
    this.values = new Uint32Array(n);
    let at = 0;
    for (const r of g.rules) {
      for (let i = 0; i < r.length; i += 2, at++) {
        this.types[at] = r[i]!;
        this.values[at] = r[i + 1]!;
      }
    }
    this.ruleStart = Int32Array.from(starts);
    this.restCost = this.completionCosts();
    // The start rule's alternatives, each advanced (llama_grammar_init_impl).
    const initial: number[] = [];
    let pos = this.ruleStart[g.root]!;
    for (;;) {
      initial.push(...this.advance(this.endOfSequence(pos) ? 0 : this.node(pos, 0)));
      while (!this.endOfSequence(pos)) pos++;
      if (this.types[pos] !== El.ALT) break;
      pos++;
    }
    this.initial = this.internSet(initial);
  }

  get nodeCount(): number {
    return this.nodePos.length;
  }

  get setCount(): number {
    return this.sets.length;
  }

  members(set: number): Int32Array {
    return this.sets[set]!;
  }

  /** The grammar may end here (some stack is empty). */
  canEnd(set: number): boolean {
    return (this.setFlags[set]! & 1) !== 0;
  }

  /** Nothing can follow: the only stack is the empty one. */
  mustEnd(set: number): boolean {
    const m = this.sets[set]!;
    return m.length === 1 && m[0] === 0;
  }

  hasTokenTop(set: number): boolean {
    return (this.setFlags[set]! & 2) !== 0;
  }

  /** The set after code point `cp`, or DEAD. */
  next(set: number, cp: number): number {
    if (cp < ASCII) {
      const t = this.asciiNext[set * ASCII + cp]!;
      if (t !== UNKNOWN) return t;
      const computed = this.computeNext(set, cp); // may grow asciiNext: store into the new table
      this.asciiNext[set * ASCII + cp] = computed;
      return computed;
    }
    const map = (this.otherNext[set] ??= new Map());
    let t = map.get(cp);
    if (t === undefined) map.set(cp, (t = this.computeNext(set, cp)));
    return t;
  }

  /** The set holding both sets' stacks. */
  union(a: number, b: number): number {
    return this.internSet([...this.sets[a]!, ...this.sets[b]!]);
  }

  /** The set after token `id` matched by token elements (<[id]>, !<[id]>), or DEAD. */
  nextByTokenElement(set: number, id: number): number {
    const out: number[] = [];
    for (const node of this.sets[set]!) {
      if (node === 0) continue;
      const pos = this.nodePos[node]!;
      const t = this.types[pos];
      if (t === El.TOKEN ? this.values[pos] !== id : t === El.TOKEN_NOT ? this.values[pos] === id : true) continue;
      out.push(...this.advance(this.endOfSequence(pos + 1) ? this.nodeParent[node]! : this.node(pos + 1, this.nodeParent[node]!)));
    }
    return out.length === 0 ? DEAD : this.internSet(out);
  }

  /** Token ids that token elements on top of the set's stacks accept: `only` (TOKEN) and, when `allBut` is
   *  defined, every token except those in it (TOKEN_NOT). */
  tokenElements(set: number): { only: number[]; allBut: number[] | undefined } {
    const only: number[] = [];
    let allBut: number[] | undefined;
    for (const node of this.sets[set]!) {
      if (node === 0) continue;
      const pos = this.nodePos[node]!;
      if (this.types[pos] === El.TOKEN) only.push(this.values[pos]!);
      else if (this.types[pos] === El.TOKEN_NOT) (allBut ??= []).push(this.values[pos]!);
    }
    return { only, allBut };
  }

  /**
   * llama_grammar_match_partial_char over the set: some stack's character class could still be satisfied by a
   * code point that starts with this incomplete UTF-8 sequence.
   */
  matchesPartial(set: number, value: number, remain: number): boolean {
    if (remain < 0 || (remain === 1 && value < 2)) return false;
    let low = value * 2 ** (remain * 6);
    const high = low + 2 ** (remain * 6) - 1;
    if (low === 0) {
      if (remain === 2) low = 1 << 11;
      else if (remain === 3) low = 1 << 16;
    }
    for (const node of this.sets[set]!) {
      if (node === 0) continue;
      let pos = this.nodePos[node]!;
      const type = this.types[pos]!;
      if (type !== El.CHAR && type !== El.CHAR_NOT && type !== El.CHAR_ANY) continue;
      const positive = type !== El.CHAR_NOT;
      let result = !positive;
      do {
        if (this.types[pos + 1] === El.CHAR_RNG_UPPER) {
          if (this.values[pos]! <= high && low <= this.values[pos + 1]!) {
            result = positive;
            break;
          }
          pos += 2;
        } else if (this.types[pos] === El.CHAR_ANY) {
          result = true;
          break;
        } else {
          if (low <= this.values[pos]! && this.values[pos]! <= high) {
            result = positive;
            break;
          }
          pos += 1;
        }
      } while (this.types[pos] === El.CHAR_ALT);
      if (result) return true;
    }
    return false;
  }

  /** matchesPartial for a sequence's leading byte (0xC0-0xFF), memoized per set: 1 yes, 2 no, 0 unknown. */
  leadByteMatches(set: number, lead: number): boolean {
    const k = set * 64 + (lead - 0xc0);
    if (this.leadOk.length <= k) {
      const grown = new Uint8Array(Math.max(64 * 64, (set + 1) * 2 * 64));
      grown.set(this.leadOk);
      this.leadOk = grown;
    }
    let r = this.leadOk[k]!;
    if (r === 0) {
      const len = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
      r = this.matchesPartial(set, lead & ((1 << (6 - len)) - 1), len) ? 1 : 2;
      this.leadOk[k] = r;
    }
    return r === 1;
  }

  private endOfSequence(pos: number): boolean {
    const t = this.types[pos];
    return t === El.END || t === El.ALT;
  }

  private node(pos: number, parent: number): number {
    const key = parent * this.types.length + pos;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      id = this.nodePos.length;
      this.nodePos.push(pos);
      this.nodeParent.push(parent);
      this.nodeDist.push(this.restCost[pos]! + this.nodeDist[parent]!);
      this.nodeIds.set(key, id);
    }
    return id;
  }

  /** llama_grammar_advance_stack: the stacks reachable from `node` by expanding rule references, each with a
   *  terminal on top (or empty). */
  private advance(node: number): Int32Array {
    const known = this.advanced[node];
    if (known) return known;
    const out: number[] = [];
    const seen = new Set<number>();
    const todo = [node];
    while (todo.length > 0) {
      const cur = todo.pop()!;
      if (seen.has(cur)) continue;
      seen.add(cur);
      if (cur === 0) {
        out.push(0);
        continue;
      }
      const pos = this.nodePos[cur]!;
      const parent = this.nodeParent[cur]!;
      if (this.types[pos] === El.RULE_REF) {
        let sub = this.ruleStart[this.values[pos]!]!;
        for (;;) {
          let next = this.endOfSequence(pos + 1) ? parent : this.node(pos + 1, parent);
          if (!this.endOfSequence(sub)) next = this.node(sub, next);
          todo.push(next);
          while (!this.endOfSequence(sub)) sub++;
          if (this.types[sub] !== El.ALT) break;
          sub++;
        }
      } else {
        out.push(cur);
      }
    }
    const result = Int32Array.from(new Set(out));
    this.advanced[node] = result;
    return result;
  }

  /**
   * The set after code point `cp`. It depends only on which stacks' character classes accept `cp` (a class
   * moves its stack to the same place whichever code point it accepts), so it is computed once per such subset:
   * in a string every letter leads to the same set, and only the first one pays for advancing and interning.
   */
  private computeNext(set: number, cp: number): number {
    const members = this.sets[set]!;
    let key: number | string = 0;
    if (members.length <= 31) {
      for (let i = 0; i < members.length; i++) if (this.accepts(members[i]!, cp)) key |= 1 << i;
      if (key === 0) return DEAD;
    } else {
      let listed = "";
      for (let i = 0; i < members.length; i++) if (this.accepts(members[i]!, cp)) listed += `${i},`;
      if (listed === "") return DEAD;
      key = listed;
    }
    const known = (this.byMatching[set] ??= new Map());
    const found = known.get(key);
    if (found !== undefined) return found;
    const out: number[] = [];
    for (const node of members) {
      if (!this.accepts(node, cp)) continue;
      const after = this.matchChar(this.nodePos[node]!, cp);
      const parent = this.nodeParent[node]!;
      for (const n of this.advance(this.endOfSequence(after) ? parent : this.node(after, parent))) out.push(n);
    }
    const next = this.internSet(out);
    known.set(key, next);
    return next;
  }

  /** The stack `node`'s top is a character class that accepts `cp`. */
  private accepts(node: number, cp: number): boolean {
    if (node === 0) return false;
    const pos = this.nodePos[node]!;
    const t = this.types[pos];
    return t !== El.TOKEN && t !== El.TOKEN_NOT && this.matchChar(pos, cp) >= 0;
  }

  /** llama_grammar_match_char: the position after the character class at `pos` if it accepts `cp`, else -1. */
  private matchChar(pos: number, cp: number): number {
    const positive = this.types[pos] === El.CHAR || this.types[pos] === El.CHAR_ANY;
    let found = false;
    do {
      if (this.types[pos + 1] === El.CHAR_RNG_UPPER) {
        found ||= this.values[pos]! <= cp && cp <= this.values[pos + 1]!;
        pos += 2;
      } else if (this.types[pos] === El.CHAR_ANY) {
        found = true;
        pos += 1;
      } else {
        found ||= this.values[pos] === cp;
        pos += 1;
      }
    } while (this.types[pos] === El.CHAR_ALT);
    return found === positive ? pos : -1;
  }

  private internSet(nodes: ArrayLike<number>): number {
    // Sorted and deduplicated, then found by hash (no string key: sets are interned on the hot path of a new state).
    const all = Int32Array.from(nodes).sort();
    let n = 0;
    for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[n++] = all[i]!;
    let hash = 0x811c9dc5;
    for (let i = 0; i < n; i++) hash = Math.imul(hash ^ all[i]!, 0x01000193);
    const bucket = this.setIds.get(hash);
    if (bucket !== undefined) {
      for (const candidate of typeof bucket === "number" ? [bucket] : bucket) {
        const members = this.sets[candidate]!;
        if (members.length !== n) continue;
        let same = true;
        for (let i = 0; i < n && same; i++) same = members[i] === all[i];
        if (same) return candidate;
      }
    }
    const sorted = all.slice(0, n);
    const id = this.sets.length;
    this.sets.push(sorted);
    this.setIds.set(hash, bucket === undefined ? id : typeof bucket === "number" ? [bucket, id] : [...bucket, id]);
    let flags = 0, dist = Infinity;
    for (const node of sorted) {
      if (node === 0) flags |= 1;
      else if (this.types[this.nodePos[node]!] === El.TOKEN || this.types[this.nodePos[node]!] === El.TOKEN_NOT) flags |= 2;
      dist = Math.min(dist, this.nodeDist[node]!);
    }
    this.setFlags.push(flags);
    this.setDist.push(dist);
    if (this.asciiNext.length < this.sets.length * ASCII) {
      const grown = new Int32Array(Math.max(64, this.sets.length * 2) * ASCII).fill(UNKNOWN);
      grown.set(this.asciiNext);
      this.asciiNext = grown;
    }
    this.markDeadAscii(id, sorted);
    return id;
  }

  /**
   * Writes DEAD into a new set's ASCII transitions for every code point none of its stacks accepts (computeNext's
   * answer for them), from each top's class of accepted ASCII. Without it a new set's mask walk and candidate
   * checks computed and refused byte after byte (~100 of them at the trie's root): in a JSON structure state
   * (2-30 allowed tokens of 32k), most of the walk's time.
   */
  private markDeadAscii(set: number, members: Int32Array): void {
    let w0 = 0, w1 = 0, w2 = 0, w3 = 0;
    for (const node of members) {
      if (node === 0) continue;
      const pos = this.nodePos[node]!;
      const t = this.types[pos];
      if (t === El.TOKEN || t === El.TOKEN_NOT) continue;
      const c = this.asciiClass(pos);
      w0 |= c[0]!;
      w1 |= c[1]!;
      w2 |= c[2]!;
      w3 |= c[3]!;
    }
    const accepted = [w0, w1, w2, w3];
    const base = set * ASCII;
    for (let cp = 0; cp < ASCII; cp++) if ((accepted[cp >>> 5]! & (1 << (cp & 31))) === 0) this.asciiNext[base + cp] = DEAD;
  }

  /** The ASCII code points the character class at `pos` accepts, as 4 words of bits. */
  private asciiClass(pos: number): Uint32Array {
    let c = this.asciiClasses.get(pos);
    if (!c) {
      c = new Uint32Array(4);
      for (let cp = 0; cp < ASCII; cp++) if (this.matchChar(pos, cp) >= 0) c[cp >>> 5]! |= 1 << (cp & 31);
      this.asciiClasses.set(pos, c);
    }
    return c;
  }

  /**
   * restCost[pos]: fewest bytes that complete the rest of pos's alternative, with each rule's fewest bytes found
   * by relaxation (a character class costs the UTF-8 length of its smallest allowed code point, a token element
   * one). Used to steer a generation running out of tokens toward the shortest completion.
   */
  private completionCosts(): Float64Array {
    const n = this.types.length;
    const nRules = this.ruleStart.length;
    const ruleCost = new Float64Array(nRules).fill(Infinity);
    const elementCost = (pos: number): number => {
      const t = this.types[pos]!;
      if (t === El.RULE_REF) return ruleCost[this.values[pos]!]!;
      if (t === El.TOKEN || t === El.TOKEN_NOT || t === El.CHAR_NOT || t === El.CHAR_ANY) return 1;
      let lowest = Infinity;
      for (let p = pos; ; ) {
        lowest = Math.min(lowest, this.values[p]!);
        p += this.types[p + 1] === El.CHAR_RNG_UPPER ? 2 : 1;
        if (this.types[p] !== El.CHAR_ALT) break;
      }
      return lowest < 0x80 ? 1 : lowest < 0x800 ? 2 : lowest < 0x10000 ? 3 : 4;
    };
    const width = (pos: number): number => {
      const t = this.types[pos]!;
      if (t !== El.CHAR && t !== El.CHAR_NOT && t !== El.CHAR_ANY) return 1;
      let p = pos;
      do p += this.types[p + 1] === El.CHAR_RNG_UPPER ? 2 : 1;
      while (this.types[p] === El.CHAR_ALT);
      return p - pos;
    };
    const rest = new Float64Array(n).fill(Infinity);
    // Alternatives as lists of element starts.
    const alternatives: { rule: number; starts: number[]; end: number }[] = [];
    for (let r = 0; r < nRules; r++) {
      let pos = this.ruleStart[r]!;
      for (;;) {
        const starts: number[] = [];
        while (!this.endOfSequence(pos)) {
          starts.push(pos);
          pos += width(pos);
        }
        alternatives.push({ rule: r, starts, end: pos });
        if (this.types[pos] !== El.ALT) break;
        pos++;
      }
    }
    for (let changed = true; changed; ) {
      changed = false;
      for (const a of alternatives) {
        let total = 0;
        for (let i = a.starts.length - 1; i >= 0; i--) total += elementCost(a.starts[i]!);
        if (total < ruleCost[a.rule]!) {
          ruleCost[a.rule] = total;
          changed = true;
        }
      }
    }
    for (const a of alternatives) {
      let total = 0;
      rest[a.end] = 0;
      for (let i = a.starts.length - 1; i >= 0; i--) {
        total += elementCost(a.starts[i]!);
        rest[a.starts[i]!] = total;
      }
    }
    return rest;
  }
}
