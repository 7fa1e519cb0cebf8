/**
 * Tokenizers for GGUF models, matching llama.cpp's llama-vocab.cpp token for token: SentencePiece BPE ("llama"),
 * byte-level BPE with llama.cpp's pre-tokenizers ("gpt2") and WordPiece ("bert"); detokenization and streaming
 * detokenization (chat templates are core/chat).
 */
import { getArray, type GgufFile } from "../gguf/index.ts";
import { BpeTokenizer, mergesOf } from "./bpe.ts";
import { cleanSpaces } from "./clean-spaces.ts";
import { TokenizerError } from "./errors.ts";
import { Pieces } from "./pieces.ts";
import { PRE_TOKENIZERS } from "./pre-tokenizers.ts";
import { SpecialSplitter } from "./special-split.ts";
import { SpmTokenizer } from "./spm.ts";
import { Detokenizer, type PieceSource, type StreamingDecoder } from "./streaming.ts";
import { Attr, Vocab } from "./vocab.ts";
import { WordPieceTokenizer } from "./wordpiece.ts";

export { TokenizerError };
export type { StreamingDecoder } from "./streaming.ts";

export interface EncodeOptions {
  /** Add BOS/EOS (and SEP for BERT) as the model asks; default true. */
  addSpecial?: boolean;
  /** Recognise control tokens such as <|im_start|> written in the text; default false. */
  parseSpecial?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  isEndOfGeneration(id: number): boolean;
  encode(text: string, opts?: EncodeOptions): Int32Array;
  decode(ids: ArrayLike<number>, opts?: { renderSpecial?: boolean }): string;
  tokenText(id: number): string;
  /** A token's bytes as llama.cpp's token_to_piece renders them (`renderSpecial`: control tokens as their text). */
  piece(id: number, renderSpecial: boolean): Uint8Array;
  /** `continuation`: the ids follow text already produced (e.g. generated after a prompt): keep their leading space. */
  createDecoder(opts?: { renderSpecial?: boolean; continuation?: boolean }): StreamingDecoder;
}

/** Tokenizes one fragment of raw text (special tokens already split out). */
interface FragmentTokenizer {
  tokenize(text: string, out: number[], afterSpecial: boolean): void;
}

const SPACE_MARK = "\u2581";
const EMPTY = new Uint8Array(0);

/** Builds the tokenizer described by a GGUF file's tokenizer.* metadata, matching llama.cpp token for token. */
export function loadTokenizer(f: GgufFile): Tokenizer {
  const vocab = new Vocab(f);
  return new GgufTokenizer(vocab, fragmentTokenizer(vocab, f));
}

function fragmentTokenizer(vocab: Vocab, f: GgufFile): FragmentTokenizer {
  switch (vocab.kind) {
    case "spm": {
      const spm = new SpmTokenizer(vocab);
      return {
        tokenize(text, out, afterSpecial) {
          // llama.cpp prefixes a space to text at the start or right after a special token.
          const prefixed = vocab.addSpacePrefix && afterSpecial ? " " + text : text;
          spm.tokenize(prefixed.replaceAll(" ", SPACE_MARK), out);
        },
      };
    }
    case "bpe": {
      const bpe = new BpeTokenizer(vocab, mergesOf(getArray(f, "tokenizer.ggml.merges")?.items as unknown[] | undefined, f.path), PRE_TOKENIZERS[vocab.pre]!.regexes);
      return { tokenize: (text, out) => bpe.tokenize(text, out) };
    }
    case "wpm": {
      const wpm = new WordPieceTokenizer(vocab);
      return { tokenize: (text, out) => wpm.tokenize(text, out) };
    }
  }
}

class GgufTokenizer implements Tokenizer, PieceSource {
  private readonly pieces: Pieces;
  private readonly specials: SpecialSplitter;
  readonly removeLeadingSpace: boolean;
  readonly cleanSpaces: boolean;

  constructor(private readonly vocab: Vocab, private readonly fragments: FragmentTokenizer) {
    this.pieces = new Pieces(vocab);
    this.specials = new SpecialSplitter(vocab);
    this.removeLeadingSpace = vocab.addSpacePrefix;
    this.cleanSpaces = vocab.cleanSpaces;
  }

  get vocabSize(): number {
    return this.vocab.texts.length;
  }
  get bos(): number | undefined {
    return this.vocab.bos;
  }
  get eos(): number | undefined {
    return this.vocab.eos;
  }

  isEndOfGeneration(id: number): boolean {
    return this.vocab.eog.has(id);
  }

  tokenText(id: number): string {
    this.check(id);
    return this.vocab.texts[id]!;
  }

  encode(text: string, opts: EncodeOptions = {}): Int32Array {
    const addSpecial = opts.addSpecial ?? true;
    const v = this.vocab;
    const out: number[] = [];
    const input = toWellFormed(text);
    const bos = addSpecial && (v.kind === "wpm" || v.addBos) ? this.required(v.bos, "BOS") : undefined;
    if (bos !== undefined) out.push(bos);
    let afterSpecial = true;
    for (const frag of this.specials.split(input, opts.parseSpecial ?? false)) {
      if ("token" in frag) {
        out.push(frag.token);
        afterSpecial = true;
      } else {
        this.fragments.tokenize(frag.text, out, afterSpecial);
        afterSpecial = false;
      }
    }
    if (addSpecial) {
      if (v.kind === "wpm") out.push(this.required(v.sep, "SEP"));
      else if (v.addEos) out.push(this.required(v.eos, "EOS"));
    }
    return Int32Array.from(out);
  }

  decode(ids: ArrayLike<number>, opts: { renderSpecial?: boolean } = {}): string {
    const render = opts.renderSpecial ?? false;
    const chunks: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      let p = this.piece(ids[i]!, render);
      if (i === 0 && this.removeLeadingSpace && p[0] === 0x20) p = p.subarray(1);
      chunks.push(p);
      length += p.length;
    }
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    const n = this.cleanSpaces ? cleanSpaces(bytes, length) : length;
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes.subarray(0, n));
  }

  createDecoder(opts: { renderSpecial?: boolean; continuation?: boolean } = {}): StreamingDecoder {
    return new Detokenizer(this, opts.renderSpecial ?? false, opts.continuation ?? false);
  }

  piece(id: number, renderSpecial: boolean): Uint8Array {
    this.check(id);
    if (!renderSpecial && this.vocab.attrs[id]! & (Attr.CONTROL | Attr.UNKNOWN)) return EMPTY;
    return this.pieces.get(id);
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.texts.length) {
      throw new TokenizerError(`token id ${id} is out of range (vocabulary has ${this.vocab.texts.length} tokens)`);
    }
  }

  private required(id: number | undefined, what: string): number {
    if (id === undefined) throw new TokenizerError(`the model asks for a ${what} token but its vocabulary defines none`);
    return id;
  }
}

/** Lone surrogates cannot be UTF-8 encoded; replace them with U+FFFD as TextEncoder does. */
function toWellFormed(text: string): string {
  let out: string | undefined;
  let copied = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c < 0xdc00 && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    out = (out ?? "") + text.slice(copied, i) + "\uFFFD";
    copied = i + 1;
  }
  return out === undefined ? text : out + text.slice(copied);
}
