import { CHAR_TO_BYTE } from "./byte-level.ts";
import { Attr, type Vocab } from "./vocab.ts";

const SPACE_MARK = "\u2581";

const EMPTY = new Uint8Array(0);

/**
 * The bytes each token renders to, as llama.cpp's token_to_piece(special = true): control/unknown/user-defined
 * tokens as their text, byte tokens as their byte, normal tokens with U+2581 turned back into spaces (SPM, WPM) or
 * with GPT-2 byte stand-ins decoded (BPE). Computed on first use and kept.
 */
export class Pieces {
  private readonly cache: (Uint8Array | undefined)[];

  constructor(private readonly vocab: Vocab) {
    this.cache = new Array(vocab.texts.length);
  }

  /** `id` must be a valid token id. */
  get(id: number): Uint8Array {
    return (this.cache[id] ??= this.render(id));
  }

  private render(id: number): Uint8Array {
    const { vocab } = this;
    const text = vocab.texts[id]!;
    const attr = vocab.attrs[id]!;
    if (attr & (Attr.CONTROL | Attr.UNKNOWN | Attr.USER_DEFINED)) return utf8(text);
    if (attr & Attr.NORMAL) return vocab.kind === "bpe" ? byteDecode(text) : utf8(text.replaceAll(SPACE_MARK, " "));
    if (attr & Attr.BYTE && vocab.kind !== "wpm") return Uint8Array.of(parseInt(text.slice(3, 5), 16));
    return EMPTY;
  }
}

function utf8(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "utf8"));
}

/** llama_decode_text: stand-in characters back to bytes; characters that are not stand-ins render as llama.cpp does. */
function byteDecode(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    const b = code < 512 ? CHAR_TO_BYTE[code]! : -1;
    if (b >= 0) out.push(b);
    else {
      const bytes = Buffer.from(ch, "utf8");
      const hex = [...bytes].map((x) => x.toString(16).padStart(2, "0")).join("");
      out.push(...Buffer.from(`[UNK_BYTE_0x${hex}${text}]`, "utf8"));
    }
  }
  return new Uint8Array(out);
}
