import { GrammarError } from "./errors.ts";
import { El, parseGbnf } from "./gbnf.ts";
import { DEAD, StackMachine, UNKNOWN } from "./stacks.ts";
import { tokenTrieOf, type GrammarVocabulary, type TokenTrie } from "./token-trie.ts";

/** The tokens a grammar allows next. `bits` has bit t set for each allowed token; for applying it to logits it
 *  also lists whichever side is shorter: `allowed` (ascending) or `banned`. */
export interface TokenMask {
  readonly bits: Uint32Array;
  readonly count: number;
  readonly allowed?: Int32Array;
  readonly banned?: Int32Array;
}

/** Where a matcher is: a set of stacks and an incomplete UTF-8 sequence carried over from the last token. */
export interface MatchState {
  readonly set: number;
  readonly value: number;
  readonly remain: number;
}

interface CachedMask {
  mask: TokenMask;
  /** The largest finite completion distance among the states the allowed tokens lead to. */
  maxDistAfter: number;
  /** Allowed tokens grouped by the completion distance they lead to, except the largest group (`bigDist`),
   *  which the mask holds anyway: enough to build any budgeted mask without walking again. */
  bigDist: number;
  groups: { dist: number; ids: Int32Array }[];
  budgeted: Map<number, TokenMask>;
  /** Bytes held by this entry (the mask, its groups and its budgeted masks), for the cache's bound. */
  bytes: number;
}

/** Leading byte's high nibble -> sequence length (llama.cpp's decode_utf8 table; 0 = not a leading byte). */
const UTF8_LENGTH = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4];
/** Default bound of a grammar's mask cache; past it the least recently used masks are dropped. */
const MASK_CACHE_BYTES = 128 * 2 ** 20;

export interface GrammarOptions {
  /** Start symbol (default "root"). */
  root?: string;
  /** Bytes of memoized masks kept (least recently used dropped first); default 128 MiB. 0 memoizes nothing. */
  maskCacheBytes?: number;
}

/**
 * A GBNF grammar compiled for one vocabulary: llama.cpp's matching semantics (code points decoded across token
 * boundaries as its decode_utf8 does, end-of-generation tokens allowed where the grammar may end, empty pieces
 * never), with the allowed-token mask of each state computed once by walking the vocabulary's byte trie against
 * the state and memoized. One Grammar serves any number of sequences; each has its own GrammarMatcher.
 */
export class Grammar {
  readonly machine: StackMachine;
  readonly trie: TokenTrie;
  /** Memoized masks by state, least recently used first (a Map iterates in insertion order; a hit re-inserts). */
  private readonly masks = new Map<number | string, CachedMask>();
  private cachedBytes = 0;
  private readonly maskCacheBytes: number;
  /** advanceBytes's other outputs (the UTF-8 sequence in progress), so that checking a token allocates nothing. */
  private outValue = 0;
  private outRemain = 0;
  private readonly words: number;
  // Walk scratch, one entry per trie depth.
  private readonly walkSet: Int32Array;
  private readonly walkValue: Int32Array;
  private readonly walkRemain: Int8Array;
  private readonly walkCarried: Uint8Array;
  /** Walk output: allowed tokens and the completion distance each leads to (a token may appear twice). */
  private readonly scratchIds: Int32Array;
  private readonly scratchDists: Float64Array;
  /** grouped()'s token bitsets, all zero between calls (cleared word by word after use): a walk allocates no
   *  vocabulary-sized array unless its mask is dense (a 4 KB typed array costs 1-15 µs to allocate and its
   *  sweeping more, beside a sparse state's ~20 µs walk). */
  private readonly addedScratch: Uint32Array;
  private readonly seenScratch: Uint32Array;
  /** Time spent computing masks (ms) and how many were computed, for benchmarks. */
  readonly stats = { maskMs: 0, masksComputed: 0, masksServed: 0 };
  /** The start symbol. */
  readonly root: string;

  /** `tokenId` resolves `<token text>` references to a token id (exactly one token), when the grammar has any. */
  constructor(readonly source: string, vocab: GrammarVocabulary, options: GrammarOptions = {}, tokenId?: (text: string) => number | undefined) {
    this.root = options.root ?? "root";
    this.maskCacheBytes = options.maskCacheBytes ?? MASK_CACHE_BYTES;
    if (!(this.maskCacheBytes >= 0)) throw new GrammarError(`maskCacheBytes must be a number >= 0, got ${options.maskCacheBytes}`);
    const parsed = parseGbnf(source, { root: options.root, tokenId });
    for (const rule of parsed.rules) {
      for (let i = 0; i < rule.length; i += 2) {
        if ((rule[i] === El.TOKEN || rule[i] === El.TOKEN_NOT) && rule[i + 1]! >= vocab.vocabSize) {
          throw new GrammarError(`grammar token <[${rule[i + 1]}]> is outside the vocabulary (size ${vocab.vocabSize})`);
        }
      }
    }
    this.machine = new StackMachine(parsed);
    this.trie = tokenTrieOf(vocab);
    this.words = (this.trie.vocabSize + 31) >>> 5;
    const depth = this.trie.maxDepth + 1;
    this.walkSet = new Int32Array(depth);
    this.walkValue = new Int32Array(depth);
    this.walkRemain = new Int8Array(depth);
    this.walkCarried = new Uint8Array(depth);
    this.scratchIds = new Int32Array(this.trie.vocabSize * 2);
    this.scratchDists = new Float64Array(this.trie.vocabSize * 2);
    this.addedScratch = new Uint32Array(this.words);
    this.seenScratch = new Uint32Array(this.words);
  }

  get initialState(): MatchState {
    return { set: this.machine.initial, value: 0, remain: 0 };
  }

  /** Memoized masks and the bytes they hold (for tests of the cache's bound). */
  get maskCache(): { entries: number; bytes: number } {
    return { entries: this.masks.size, bytes: this.cachedBytes };
  }

  /**
   * Tokens allowed in `state`. With `tokensLeft` (tokens the generation may still produce, this one included)
   * smaller than some allowed token's completion distance, only tokens after which the grammar can still be
   * completed in the tokens left are allowed (or, when none can, those that come closest), so a budgeted
   * generation ends with a complete output.
   */
  mask(state: MatchState, tokensLeft = Infinity): TokenMask {
    const key = maskKey(state);
    let cached = this.masks.get(key);
    if (cached) {
      this.stats.masksServed++;
      this.masks.delete(key); // most recently used goes last
    } else {
      cached = this.walk(state);
      this.cachedBytes += cached.bytes;
    }
    this.masks.set(key, cached);
    const mask = this.budgetedMask(cached, tokensLeft);
    this.evict();
    return mask;
  }

  /** mask(state, tokensLeft) when the state's mask is memoized (no walk over the vocabulary), else undefined. */
  memoizedMask(state: MatchState, tokensLeft = Infinity): TokenMask | undefined {
    const cached = this.masks.get(maskKey(state));
    return cached && this.mask(state, tokensLeft);
  }

  private budgetedMask(cached: CachedMask, tokensLeft: number): TokenMask {
    const maxDist = tokensLeft - 1;
    if (maxDist >= cached.maxDistAfter) return cached.mask;
    let budgeted = cached.budgeted.get(maxDist);
    if (!budgeted) {
      budgeted = this.budgeted(cached, maxDist);
      cached.budgeted.set(maxDist, budgeted);
      cached.bytes += this.maskBytes(budgeted);
      this.cachedBytes += this.maskBytes(budgeted);
    }
    return budgeted;
  }

  /** Drops the least recently used masks until the cache is within its bound (the latest one included). */
  private evict(): void {
    for (const [key, entry] of this.masks) {
      if (this.cachedBytes <= this.maskCacheBytes) break;
      this.masks.delete(key);
      this.cachedBytes -= entry.bytes;
    }
  }

  /** The cached mask narrowed to tokens leading within `maxDist` of completion (or, if none, the closest). */
  private budgeted(c: CachedMask, maxDist: number): TokenMask {
    let limit = maxDist;
    const reachable = c.bigDist <= limit || c.groups.some((g) => g.dist <= limit);
    if (!reachable) limit = Math.min(c.bigDist, ...c.groups.map((g) => g.dist));
    // Tokens into states that can never complete stay: no budget helps them (see withinBudget).
    const kept = (dist: number) => dist <= limit || dist === Infinity;
    const bits = new Uint32Array(this.words);
    if (kept(c.bigDist)) {
      bits.set(c.mask.bits);
      for (const g of c.groups) if (!kept(g.dist)) for (const id of g.ids) bits[id >>> 5]! &= ~(1 << (id & 31));
    } else {
      for (const g of c.groups) if (kept(g.dist)) for (const id of g.ids) bits[id >>> 5]! |= 1 << (id & 31);
    }
    let count = 0;
    for (let w = 0; w < bits.length; w++) count += popcount(bits[w]!);
    return this.listed(bits, count, true);
  }

  /** The state after `token`, or undefined when the grammar does not allow it. End-of-generation tokens leave
   *  the state as it is (allowed only where it may end). */
  next(state: MatchState, token: number): MatchState | undefined {
    const m = this.machine;
    if (token < 0 || token >= this.trie.vocabSize) return undefined;
    if (this.trie.isEog[token]) return m.canEnd(state.set) ? state : undefined;
    const piece = this.trie.pieces[token]!;
    if (piece.length === 0) return undefined;
    const after = this.advance(state, piece);
    if (!(state.remain === 0 && m.hasTokenTop(state.set))) return after;
    const byToken = m.nextByTokenElement(state.set, token);
    if (byToken === DEAD) return after;
    return after ? { ...after, set: m.union(after.set, byToken) } : { set: byToken, value: 0, remain: 0 };
  }

  /**
   * The completion distance (see distance) of next(state, token), or -1 when the grammar does not allow the
   * token: next() without building the state, for a sampler checking many candidates one by one.
   */
  distanceAfter(state: MatchState, token: number): number {
    const m = this.machine, trie = this.trie;
    if (token < 0 || token >= trie.vocabSize) return -1;
    if (trie.isEog[token]) return m.canEnd(state.set) ? m.setDist[state.set]! : -1;
    if (state.remain === 0 && m.hasTokenTop(state.set)) {
      const after = this.next(state, token);
      return after ? m.setDist[after.set]! : -1;
    }
    const piece = trie.pieces[token]!;
    if (piece.length === 0) return -1;
    const set = this.advanceBytes(state.set, state.value, state.remain, piece);
    return set === DEAD ? -1 : m.setDist[set]!;
  }

  /** The state after these bytes (text, not a token: no end-of-generation or token elements), or undefined. */
  advance(state: MatchState, bytes: Uint8Array): MatchState | undefined {
    const set = this.advanceBytes(state.set, state.value, state.remain, bytes);
    return set === DEAD ? undefined : { set, value: this.outValue, remain: this.outRemain };
  }

  /** The set after `bytes` from (set, value, remain), or DEAD; the UTF-8 sequence left open goes to outValue/outRemain. */
  private advanceBytes(set: number, value: number, remain: number, bytes: Uint8Array): number {
    const m = this.machine;
    let carried = remain > 0;
    for (let i = 0; i < bytes.length && set !== DEAD; i++) {
      const b = bytes[i]!;
      if (remain === 0 && b < 0x80) {
        // The common case: an ASCII byte is a whole code point, its transition a table lookup once known.
        const known = m.asciiNext[set * 128 + b]!;
        set = known !== UNKNOWN ? known : m.next(set, b);
        value = b;
      } else if (remain > 0) {
        if (carried && b >> 6 !== 2) { set = DEAD; break; }
        value = (value << 6) + (b & 0x3f);
        if (--remain === 0) { set = m.next(set, value); carried = false; }
      } else {
        const n = UTF8_LENGTH[b >> 4]! - 1;
        if (n < 0) { set = DEAD; break; }
        value = b & ((1 << (7 - n)) - 1);
        remain = n;
        if (n === 0) set = m.next(set, value);
      }
    }
    if (set !== DEAD && remain > 0 && !m.matchesPartial(set, value, remain)) set = DEAD;
    this.outValue = value;
    this.outRemain = remain;
    return set;
  }

  /** Fewest tokens (of single bytes) that complete the output from `state`; 0 when it may end here. */
  distance(state: MatchState): number {
    return this.machine.setDist[state.set]!;
  }

  canEnd(state: MatchState): boolean {
    return this.machine.canEnd(state.set);
  }

  /** Only ending is possible: no token can continue the output. */
  mustEnd(state: MatchState): boolean {
    return state.remain === 0 && this.machine.mustEnd(state.set);
  }

  /** One forward scan over the trie, skipping every subtree whose bytes the state rules out. */
  private walk(state: MatchState): CachedMask {
    const t0 = performance.now();
    const m = this.machine, trie = this.trie;
    const { byte, depth, subtreeEnd, tokenStart, tokenIds } = trie;
    const setDist = m.setDist;
    const S = this.walkSet, V = this.walkValue, R = this.walkRemain, C = this.walkCarried;
    const ids = this.scratchIds, dists = this.scratchDists;
    let n = 0;
    let ascii = m.asciiNext;
    S[0] = state.set;
    V[0] = state.value;
    R[0] = state.remain;
    C[0] = state.remain > 0 ? 1 : 0;
    const nodes = trie.nodeCount;
    for (let i = 1; i < nodes; ) {
      const d = depth[i]!;
      let set = S[d - 1]!, value = V[d - 1]!, remain = R[d - 1]!, carried = C[d - 1]!;
      const b = byte[i]!;
      if (remain === 0 && b < 0x80) {
        // The common case, inlined: an ASCII byte is a whole code point.
        value = b;
        carried = 0;
        let next = ascii[set * 128 + b]!;
        if (next === UNKNOWN) {
          next = m.next(set, b);
          ascii = m.asciiNext;
        }
        set = next;
      } else if (remain > 0) {
        if (carried && b >> 6 !== 2) { i = subtreeEnd[i]!; continue; }
        value = (value << 6) + (b & 0x3f);
        if (--remain === 0) {
          set = m.next(set, value);
          ascii = m.asciiNext;
          carried = 0;
        }
      } else {
        const len = UTF8_LENGTH[b >> 4]! - 1;
        if (len < 0) { i = subtreeEnd[i]!; continue; }
        value = b & ((1 << (7 - len)) - 1);
        remain = len;
        carried = 0;
        // No code point this byte starts can continue the state: skip the subtree (in a large vocabulary the
        // multi-byte subtrees hold half the tokens, and a structural state refuses them all).
        if (!m.leadByteMatches(set, b)) { i = subtreeEnd[i]!; continue; }
      }
      if (set === DEAD) { i = subtreeEnd[i]!; continue; }
      S[d] = set;
      V[d] = value;
      R[d] = remain;
      C[d] = carried;
      const first = tokenStart[i]!, last = tokenStart[i + 1]!;
      if (first < last && (remain === 0 || m.matchesPartial(set, value, remain))) {
        const dist = setDist[set]!;
        for (let k = first; k < last; k++) {
          ids[n] = tokenIds[k]!;
          dists[n++] = dist;
        }
      }
      i++;
    }
    if (state.remain === 0 && m.hasTokenTop(state.set)) n = this.addTokenElements(state, n);
    if (m.canEnd(state.set)) {
      for (const id of trie.eog) {
        ids[n] = id;
        dists[n++] = 0;
      }
    }
    const cached = this.grouped(n);
    this.stats.maskMs += performance.now() - t0;
    this.stats.masksComputed++;
    return cached;
  }

  /** The walk's n (token, distance) pairs as a mask and distance groups. */
  private grouped(n: number): CachedMask {
    const ids = this.scratchIds, dists = this.scratchDists;
    const bits = this.addedScratch;
    // Distances are few and come in runs (the tokens of a trie node share one): found by a linear look-up
    // remembered across the run, not a Map per token.
    const distinct: number[] = [], sizes: number[] = [];
    let count = 0, maxDistAfter = 0, last = -1, at = -1;
    for (let k = 0; k < n; k++) {
      const id = ids[k]!, dist = dists[k]!;
      if (bits[id >>> 5]! & (1 << (id & 31))) continue; // a token reached twice (an element and its bytes)
      bits[id >>> 5]! |= 1 << (id & 31);
      count++;
      if (dist !== last) {
        at = distinct.indexOf(dist);
        if (at < 0) {
          at = distinct.length;
          distinct.push(dist);
          sizes.push(0);
        }
        last = dist;
      }
      sizes[at]!++;
      if (dist > maxDistAfter && dist !== Infinity) maxDistAfter = dist;
    }
    let big = 0;
    for (let i = 1; i < sizes.length; i++) if (sizes[i]! > sizes[big]!) big = i;
    const bigDist = distinct.length > 0 ? distinct[big]! : Infinity;
    const groups: { dist: number; ids: Int32Array }[] = [];
    if (distinct.length > 1) {
      const lists = distinct.map(() => [] as number[]);
      const seen = this.seenScratch;
      for (let k = 0; k < n; k++) {
        const id = ids[k]!, dist = dists[k]!;
        if (dist === bigDist || seen[id >>> 5]! & (1 << (id & 31))) continue;
        seen[id >>> 5]! |= 1 << (id & 31);
        lists[distinct.indexOf(dist)]!.push(id);
      }
      distinct.forEach((dist, i) => {
        if (i !== big) groups.push({ dist, ids: Int32Array.from(lists[i]!) });
      });
      for (let k = 0; k < n; k++) seen[ids[k]! >>> 5] = 0;
    }
    const mask = this.listed(bits, count, false);
    for (let k = 0; k < n; k++) bits[ids[k]! >>> 5] = 0;
    const bytes = this.maskBytes(mask) + groups.reduce((a, g) => a + g.ids.byteLength, 0);
    return { mask, maxDistAfter, bigDist, groups, budgeted: new Map(), bytes };
  }

  /** Tokens matched as whole tokens by <[id]> / !<[id]> elements on top of the state's stacks. */
  private addTokenElements(state: MatchState, n: number): number {
    const { only, allBut } = this.machine.tokenElements(state.set);
    const trie = this.trie;
    const allow = (id: number) => {
      if (trie.pieces[id]!.length === 0 || trie.isEog[id]) return;
      const after = this.machine.nextByTokenElement(state.set, id);
      if (after === DEAD) return;
      this.scratchIds[n] = id;
      this.scratchDists[n++] = this.machine.setDist[after]!;
    };
    for (const id of only) allow(id);
    if (allBut) {
      const refused = new Set(allBut);
      for (let id = 0; id < trie.vocabSize; id++) if (!refused.has(id)) allow(id);
    }
    return n;
  }

  /** The mask with its shorter side listed, found word by word (a sparse mask costs its words, not the vocabulary).
   *  `owned`: `bits` is the mask's own array (else scratch, copied when the mask keeps bits). */
  private listed(bits: Uint32Array, count: number, owned: boolean): TokenMask {
    const n = this.trie.vocabSize;
    const sparse = count <= n / 2;
    const list = new Int32Array(sparse ? count : n - count);
    let k = 0;
    for (let w = 0; w < bits.length; w++) {
      let x = sparse ? bits[w]! : ~bits[w]!;
      while (x !== 0) {
        const low = x & -x;
        const id = (w << 5) + 31 - Math.clz32(low);
        if (id >= n) break;
        list[k++] = id;
        x ^= low;
      }
    }
    if (!sparse) return { bits: owned ? bits : bits.slice(), count, banned: list };
    return owned ? { bits, count, allowed: list } : new SparseMask(list, this.words);
  }

  /** Bytes a mask holds (its bits counted whether built yet or not). */
  private maskBytes(m: TokenMask): number {
    return this.words * 4 + ((m.allowed ?? m.banned)?.byteLength ?? 0);
  }
}

/** A mask listing its allowed tokens, the minority: the sampler reads the list, so the bits are built on first use. */
class SparseMask implements TokenMask {
  private built: Uint32Array | undefined;

  constructor(readonly allowed: Int32Array, private readonly words: number) {}

  get count(): number {
    return this.allowed.length;
  }

  get bits(): Uint32Array {
    if (!this.built) {
      this.built = new Uint32Array(this.words);
      for (let i = 0; i < this.allowed.length; i++) this.built[this.allowed[i]! >>> 5]! |= 1 << (this.allowed[i]! & 31);
    }
    return this.built;
  }
}

function maskKey(state: MatchState): number | string {
  return state.remain === 0 ? state.set : `${state.set}:${state.value}:${state.remain}`;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** One sequence's position in a grammar: the mask before sampling, the advance after. */
export class GrammarMatcher {
  private state: MatchState;

  constructor(readonly grammar: Grammar) {
    this.state = grammar.initialState;
  }

  mask(tokensLeft = Infinity): TokenMask {
    return this.grammar.mask(this.state, tokensLeft);
  }

  /** mask(tokensLeft) when it is memoized for this state (costs no walk over the vocabulary), else undefined. */
  memoizedMask(tokensLeft = Infinity): TokenMask | undefined {
    return this.grammar.memoizedMask(this.state, tokensLeft);
  }

  /**
   * Whether `token` is in mask(tokensLeft), checked for this token alone (a few memoized transitions): a sampler
   * that only needs the best few allowed tokens asks this of its best candidates instead of building the mask.
   * Exact while some token fits the budget; when none does, mask() allows the closest ones, which this refuses.
   */
  allows(token: number, tokensLeft = Infinity): boolean {
    const dist = this.grammar.distanceAfter(this.state, token);
    return dist >= 0 && (dist <= tokensLeft - 1 || dist === Infinity);
  }

  /** Advances by text (a lazy grammar's trigger and what followed it in its token); false when the grammar refuses it. */
  acceptBytes(bytes: Uint8Array): boolean {
    const next = this.grammar.advance(this.state, bytes);
    if (next) this.state = next;
    return next !== undefined;
  }

  /** Advances by a token the mask allowed; a token it did not allow is an error (the output would leave the grammar). */
  accept(token: number): void {
    const next = this.grammar.next(this.state, token);
    if (!next) throw new GrammarError(`token ${token} does not continue the grammar here`);
    this.state = next;
  }

  get canEnd(): boolean {
    return this.grammar.canEnd(this.state);
  }

  get mustEnd(): boolean {
    return this.grammar.mustEnd(this.state);
  }

  /** Fewest single-byte tokens that complete the output. */
  get distance(): number {
    return this.grammar.distance(this.state);
  }

  /** The longest prefix of `tokens` the grammar allows from here (the state is left unchanged). */
  validPrefix(tokens: readonly number[]): number {
    let s: MatchState | undefined = this.state;
    let n = 0;
    for (const t of tokens) {
      s = this.grammar.next(s, t);
      if (!s) break;
      n++;
    }
    return n;
  }
}
