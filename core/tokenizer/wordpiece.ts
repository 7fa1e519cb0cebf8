import { TokenizerError } from "./errors.ts";
import { codepointFlags, nfd, toLower, U } from "./unicode.ts";
import type { Vocab } from "./vocab.ts";

const WORD_START = "\u2581";
/** llama.cpp's one-code-point NFD leaves everything below U+00C0 unchanged. */
const FIRST_DECOMPOSABLE = 0xc0;
/** Distinct words remembered with their tokens; cleared when full. */
const WORD_CACHE_LIMIT = 1 << 16;

/**
 * WordPiece as llama.cpp's llm_tokenizer_wpm_session: BERT-style normalisation and splitting, then greedy
 * longest-match against vocabulary entries, each word prefixed with U+2581; a word that cannot be covered
 * becomes the unknown token.
 */
export class WordPieceTokenizer {
  private readonly maxTokenUnits: number;
  private readonly cache = new Map<string, number[]>();
  private units = new Uint16Array(256);

  constructor(private readonly vocab: Vocab) {
    // llama.cpp bounds matches by the longest entry in UTF-8 bytes; the UTF-16 length of a match is never larger.
    this.maxTokenUnits = vocab.texts.reduce((m, t) => Math.max(m, Buffer.byteLength(t)), 0);
  }

  tokenize(text: string, out: number[]): void {
    for (const w of this.words(text)) {
      let ids = this.cache.get(w);
      if (!ids) {
        ids = this.matchWord(w);
        if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
        this.cache.set(w, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** Greedy longest matches covering U+2581 + word, or the unknown token if some position has none. */
  private matchWord(w: string): number[] {
    const word = WORD_START + w;
    const n = word.length;
    const ids: number[] = [];
    for (let i = 0; i < n;) {
      let matched = false;
      for (let j = Math.min(n, i + this.maxTokenUnits + 1); j > i; j--) {
        if (j < n && isLowSurrogate(word.charCodeAt(j))) continue;
        const id = this.vocab.idOf.get(word.slice(i, j));
        if (id !== undefined) {
          ids.push(id);
          i = j;
          matched = true;
          break;
        }
      }
      if (!matched) {
        if (this.vocab.unk === undefined) throw new TokenizerError(`cannot tokenize '${w}' and the vocabulary has no unknown token`);
        return [this.vocab.unk];
      }
    }
    return ids;
  }

  /** llm_tokenizer_wpm_session::preprocess: normalise, drop controls, split on whitespace and punctuation. */
  private words(text: string): string[] {
    const { lowercase, stripAccents } = this.vocab;
    const table = codepointFlags();
    const words: string[] = [];
    // The current word's UTF-16 units; normalising one code point never needs more than two.
    if (this.units.length < text.length * 2) this.units = new Uint16Array(text.length * 2);
    const units = this.units;
    let n = 0;
    const endWord = () => {
      if (n > 0) words.push(String.fromCharCode.apply(null, units.subarray(0, n) as unknown as number[]));
      n = 0;
    };
    for (let i = 0; i < text.length; i++) {
      let cp = text.charCodeAt(i);
      if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < text.length) cp = 0x10000 + ((cp - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      if (stripAccents && cp >= FIRST_DECOMPOSABLE) cp = nfd(cp);
      const flags = table[cp]!;
      if (flags & U.WHITESPACE) {
        endWord();
        continue;
      }
      if (cp === 0 || cp === 0xfffd || flags & U.CONTROL) continue;
      if (stripAccents && flags & U.ACCENT_MARK) continue;
      if (lowercase) cp = cp < 0x80 ? (cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp) : toLower(cp);
      const alone = flags & U.PUNCTUATION || (cp < 0x7f && flags & U.SYMBOL) || isChineseChar(cp);
      if (alone) endWord();
      if (cp > 0xffff) {
        units[n++] = 0xd800 + ((cp - 0x10000) >> 10);
        units[n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      } else units[n++] = cp;
      if (alone) endWord();
    }
    endWord();
    return words;
  }
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c < 0xe000;
}

function isChineseChar(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}
