import { BYTE_TO_CHAR } from "./byte-level.ts";
import { TokenizerError } from "./errors.ts";
import { PairQueue } from "./pair-queue.ts";
import { PairTable } from "./pair-table.ts";
import { SubstringIds } from "./substring-ids.ts";
import { compilePreTokenizer, toCodepoints, type CodepointText } from "./pre-tokenizers.ts";
import type { Vocab } from "./vocab.ts";

/** Separator for merge-rank keys; byte-level vocab entries never contain U+0001 (it is encoded as U+0101). */
const SEP = "\u0001";
/** Distinct words remembered with their tokens; cleared when full. Natural text repeats words heavily. */
const WORD_CACHE_LIMIT = 1 << 16;
const UNRESOLVED = -2;

/**
 * Byte-level BPE as llama.cpp's llm_tokenizer_bpe_session: pre-tokenize into words, map each word's UTF-8 bytes
 * to GPT-2 stand-in characters, then merge adjacent symbols lowest merge rank first.
 */
export class BpeTokenizer {
  /** Merges whose halves are both vocabulary entries, by token ids: all of them in well-formed vocabularies. */
  private readonly table: PairTable;
  /** Any other merges, by text. */
  private readonly textRanks = new Map<string, number>();
  /** Token id of each single stand-in character (indexed by UTF-16 unit), -1 if absent. */
  private readonly charIds = new Int32Array(512).fill(-1);
  private readonly split: (t: CodepointText) => number[];
  private readonly queue = new PairQueue();
  private readonly cache = new Map<string, number[]>();
  private len = new Int32Array(64);
  private prev = new Int32Array(64);
  private next = new Int32Array(64);
  private ids = new Int32Array(64);

  constructor(private readonly vocab: Vocab, merges: readonly string[], regexes: readonly string[]) {
    const ids = new SubstringIds(vocab.texts);
    this.table = new PairTable(merges.length);
    merges.forEach((m, rank) => {
      const at = m.indexOf(" ", 1);
      const l = at < 0 ? -1 : ids.get(m, 0, at), r = at < 0 ? -1 : ids.get(m, at + 1, m.length);
      if (l >= 0 && r >= 0) this.table.add(l, r, rank, UNRESOLVED);
      else {
        const key = at < 0 ? SEP : m.slice(0, at) + SEP + m.slice(at + 1);
        if (!this.textRanks.has(key)) this.textRanks.set(key, rank);
      }
    });
    for (let c = 0; c < this.charIds.length; c++) this.charIds[c] = vocab.idOf.get(String.fromCharCode(c)) ?? -1;
    this.split = compilePreTokenizer(regexes);
  }

  tokenize(text: string, out: number[]): void {
    const cp = toCodepoints(text);
    const lengths = this.split(cp);
    let at = 0, unit = 0;
    for (const n of lengths) {
      // Code point range [at, at + n) -> UTF-16 range [unit, end).
      let end = unit;
      for (let i = at; i < at + n; i++) end += cp.cps[i]! > 0xffff ? 2 : 1;
      at += n;
      this.tokenizeWord(text.slice(unit, end), out);
      unit = end;
    }
  }

  /** Tokens of one pre-tokenized word, remembered by its raw text. */
  private tokenizeWord(raw: string, out: number[]): void {
    if (raw.length === 0) return;
    const cached = this.cache.get(raw);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const word = byteEncode(raw);
    const ids: number[] = [];
    const whole = this.vocab.ignoreMerges ? this.vocab.idOf.get(word) : undefined;
    if (whole !== undefined) ids.push(whole);
    else this.merge(word, ids);
    if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
    this.cache.set(raw, ids);
    for (const id of ids) out.push(id);
  }

  /** Every stand-in character is one UTF-16 unit, so symbol i starts at unit i. */
  private merge(word: string, out: number[]): void {
    const n = word.length;
    if (this.len.length < n) {
      this.len = new Int32Array(n);
      this.prev = new Int32Array(n);
      this.next = new Int32Array(n);
      this.ids = new Int32Array(n);
    }
    const { len, prev, next, ids, queue } = this;
    for (let i = 0; i < n; i++) {
      len[i] = 1;
      prev[i] = i - 1;
      next[i] = i + 1 === n ? -1 : i + 1;
      ids[i] = this.charIds[word.charCodeAt(i)]!;
    }
    queue.clear();
    for (let i = 1; i < n; i++) this.addPair(word, i - 1, i);
    while (queue.length > 0) {
      queue.pop();
      const l = queue.popLeft, r = queue.popRight;
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== queue.popSize) continue;
      const entry = ids[l]! >= 0 && ids[r]! >= 0 ? this.table.find(ids[l]!, ids[r]!) : -1;
      len[l]! += len[r]!;
      len[r] = 0;
      ids[l] = entry >= 0 ? this.mergedId(entry, word, l) : this.vocab.idOf.get(word.substr(l, len[l]!)) ?? -1;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      this.addPair(word, prev[l]!, l);
      this.addPair(word, l, next[l]!);
    }
    for (let i = 0; i !== -1; i = next[i]!) {
      if (ids[i]! >= 0) out.push(ids[i]!);
      else this.fallback(word.substr(i, len[i]!), out);
    }
  }

  /** Token id of a merge's result, looked up on first use rather than for every merge at load. */
  private mergedId(entry: number, word: string, symbol: number): number {
    let id = this.table.mergedAt(entry);
    if (id === UNRESOLVED) {
      id = this.vocab.idOf.get(word.substr(symbol, this.len[symbol]!)) ?? -1;
      this.table.setMerged(entry, id);
    }
    return id;
  }

  private addPair(word: string, left: number, right: number): void {
    if (left === -1 || right === -1) return;
    const l = this.ids[left]!, r = this.ids[right]!;
    let rank: number | undefined;
    if (l >= 0 && r >= 0) {
      const entry = this.table.find(l, r);
      if (entry >= 0) rank = this.table.rankAt(entry);
    } else rank = this.textRanks.get(word.substr(left, this.len[left]!) + SEP + word.substr(right, this.len[right]!));
    if (rank !== undefined) this.queue.push(left, right, rank, this.len[left]! + this.len[right]!);
  }

  /**
   * A final symbol missing from the vocabulary: llama.cpp looks up each byte of its UTF-8 text as a one-byte
   * token, which can only succeed for ASCII stand-ins; the rest is dropped, as there.
   */
  private fallback(piece: string, out: number[]): void {
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i);
      if (c >= 0x80) continue;
      const id = this.vocab.idOf.get(piece[i]!);
      if (id !== undefined) out.push(id);
    }
  }
}

/** GPT-2 stand-in characters for the UTF-8 bytes of text. */
function byteEncode(text: string): string {
  let s = "";
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) s += BYTE_TO_CHAR[c]!;
    else if (c < 0x800) s += BYTE_TO_CHAR[0xc0 | (c >> 6)]! + BYTE_TO_CHAR[0x80 | (c & 0x3f)]!;
    else if (c >= 0xd800 && c < 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      s += BYTE_TO_CHAR[0xf0 | (c >> 18)]! + BYTE_TO_CHAR[0x80 | ((c >> 12) & 0x3f)]! + BYTE_TO_CHAR[0x80 | ((c >> 6) & 0x3f)]! + BYTE_TO_CHAR[0x80 | (c & 0x3f)]!;
    } else s += BYTE_TO_CHAR[0xe0 | (c >> 12)]! + BYTE_TO_CHAR[0x80 | ((c >> 6) & 0x3f)]! + BYTE_TO_CHAR[0x80 | (c & 0x3f)]!;
  }
  return s;
}

export function mergesOf(items: readonly unknown[] | undefined, path: string): readonly string[] {
  if (!items || !items.every((m) => typeof m === "string")) throw new TokenizerError(`${path}: tokenizer.ggml.merges is missing or not a string array`);
  return items as string[];
}
