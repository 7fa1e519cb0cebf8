import { TokenizerError } from "./errors.ts";
import { PairQueue } from "./pair-queue.ts";
import type { Vocab } from "./vocab.ts";

const PAIR_BASE = 0x110000;
/** Distinct text pieces remembered with their tokens; cleared when full. */
const PIECE_CACHE_LIMIT = 1 << 16;

/**
 * SentencePiece BPE as llama.cpp's llm_tokenizer_spm_session: start from single code points, repeatedly merge the
 * adjacent pair whose concatenation is the highest-scoring vocabulary entry, then emit each final symbol (or its
 * merge history, or its UTF-8 bytes as <0xXX> tokens when it is not in the vocabulary).
 * Input is already whitespace-escaped (spaces as U+2581). Offsets are UTF-16 units of `text`.
 */
export class SpmTokenizer {
  private readonly byteTokens: Int32Array;
  private readonly queue = new PairQueue();
  private start = new Int32Array(256);
  private len = new Int32Array(256);
  private prev = new Int32Array(256);
  private next = new Int32Array(256);

  /** prev * PAIR_BASE + next for every two code points adjacent inside some vocabulary entry. */
  private readonly adjacent = new Set<number>();
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly vocab: Vocab) {
    // By char codes, not `for (const ch of t)`: a string per character made this most of the tokenizer's start-up
    // for a 32k vocabulary (it runs at every model load).
    for (const t of vocab.texts) {
      let prev = -1;
      for (let i = 0; i < t.length; i++) {
        let cp = t.charCodeAt(i);
        const low = i + 1 < t.length ? t.charCodeAt(i + 1) : 0;
        if (cp >= 0xd800 && cp < 0xdc00 && low >= 0xdc00 && low < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          i++;
        }
        if (prev >= 0) this.adjacent.add(prev * PAIR_BASE + cp);
        prev = cp;
      }
    }
    this.byteTokens = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, "0");
      this.byteTokens[b] = vocab.idOf.get(`<0x${hex}>`) ?? vocab.idOf.get(String.fromCharCode(b)) ?? -1;
    }
  }

  tokenize(text: string, out: number[]): void {
    // Merges only ever join code points that sit next to each other inside some vocabulary entry, so the text can
    // be cut wherever two neighbours never do: each piece then merges exactly as it would inside the whole text
    // (the queue order within a piece is unchanged), and repeated pieces can be looked up instead of re-merged.
    let start = 0, prev = -1;
    for (let i = 0; i < text.length; i++) {
      let cp = text.charCodeAt(i);
      const unit = i;
      if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < text.length) cp = 0x10000 + ((cp - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      if (prev >= 0 && !this.adjacent.has(prev * PAIR_BASE + cp)) {
        this.tokenizePiece(text.slice(start, unit), out);
        start = unit;
      }
      prev = cp;
    }
    this.tokenizePiece(text.slice(start), out);
  }

  private tokenizePiece(text: string, out: number[]): void {
    if (text.length === 0) return;
    let ids = this.cache.get(text);
    if (!ids) {
      ids = [];
      this.mergePiece(text, ids);
      if (this.cache.size >= PIECE_CACHE_LIMIT) this.cache.clear();
      this.cache.set(text, ids);
    }
    for (const id of ids) out.push(id);
  }

  private mergePiece(text: string, out: number[]): void {
    const n = this.split(text);
    const { start, len, prev, next, queue } = this;
    queue.clear();
    for (let i = 1; i < n; i++) this.tryAddPair(text, i - 1, i);
    while (queue.length > 0) {
      queue.pop();
      const l = queue.popLeft, r = queue.popRight;
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== queue.popSize) continue;
      len[l]! += len[r]!;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      this.tryAddPair(text, prev[l]!, l);
      this.tryAddPair(text, l, next[l]!);
    }
    for (let i = 0; i !== -1; i = next[i]!) this.emit(text.substr(start[i]!, len[i]!), out);
  }

  /** One symbol per code point; returns the symbol count. */
  private split(text: string): number {
    const units = text.length;
    if (this.start.length < units) {
      this.start = new Int32Array(units);
      this.len = new Int32Array(units);
      this.prev = new Int32Array(units);
      this.next = new Int32Array(units);
    }
    let n = 0;
    for (let off = 0; off < units; n++) {
      const c = text.charCodeAt(off);
      const w = c >= 0xd800 && c < 0xdc00 && off + 1 < units ? 2 : 1;
      this.start[n] = off;
      this.len[n] = w;
      this.prev[n] = n - 1;
      off += w;
      this.next[n] = off === units ? -1 : n + 1;
    }
    return n;
  }

  private tryAddPair(text: string, left: number, right: number): void {
    if (left === -1 || right === -1) return;
    const piece = text.substr(this.start[left]!, this.len[left]! + this.len[right]!);
    const id = this.vocab.idOf.get(piece);
    if (id !== undefined) this.queue.push(left, right, -this.vocab.scores[id]!, piece.length);
  }

  /**
   * llama.cpp's resegment(). Its rev_merge lookup never succeeds: a final symbol is either one code point (merge
   * keys have at least two) or the result of a merge, which only happens for vocabulary entries. So a symbol is
   * its token or, failing that, its UTF-8 bytes as byte tokens.
   */
  private emit(piece: string, out: number[]): void {
    const id = this.vocab.idOf.get(piece);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    for (const b of Buffer.from(piece, "utf8")) {
      const byteId = this.byteTokens[b]!;
      if (byteId < 0) throw new TokenizerError(`vocabulary has no byte token for 0x${b.toString(16)} (needed for '${piece}')`);
      out.push(byteId);
    }
  }
}
