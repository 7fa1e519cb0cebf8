import { cleanSpaces, isCleanCut } from "./clean-spaces.ts";

/** What detokenization needs from a loaded tokenizer. */
export interface PieceSource {
  /** Bytes of one token as llama.cpp's token_to_piece renders it; throws TokenizerError for a bad id. */
  piece(id: number, renderSpecial: boolean): Uint8Array;
  readonly removeLeadingSpace: boolean;
  readonly cleanSpaces: boolean;
}

export interface StreamingDecoder {
  push(id: number): string;
  flush(): string;
}

/**
 * Token-at-a-time detokenization whose concatenated output equals decoding the whole sequence at once: bytes of
 * an incomplete UTF-8 character wait in the TextDecoder, and with space clean-up enabled bytes wait until a point
 * where cleaning the parts separately cannot differ from cleaning them together.
 */
export class Detokenizer implements StreamingDecoder {
  private readonly utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
  private pending = new Uint8Array(64);
  private pendingLength = 0;
  private first: boolean;

  /** `continuation`: the ids continue text already shown (a prompt), so a leading space is real, not a prefix. */
  constructor(private readonly src: PieceSource, private readonly renderSpecial: boolean, continuation = false) {
    this.first = !continuation;
  }

  push(id: number): string {
    let piece = this.src.piece(id, this.renderSpecial);
    if (this.first) {
      this.first = false;
      if (this.src.removeLeadingSpace && piece[0] === 0x20) piece = piece.subarray(1);
    }
    if (!this.src.cleanSpaces) return this.utf8.decode(piece, { stream: true });
    // Bytes already pending hold no cut point (everything up to the last one was emitted), so scan only the new ones.
    const before = this.pendingLength;
    this.append(piece);
    let cut = this.pendingLength;
    while (cut > before && !isCleanCut(this.pending[cut - 1]!)) cut--;
    if (cut === before) return "";
    const ready = this.pending.slice(0, cut);
    this.pending.copyWithin(0, cut, this.pendingLength);
    this.pendingLength -= cut;
    return this.utf8.decode(ready.subarray(0, cleanSpaces(ready, ready.length)), { stream: true });
  }

  flush(): string {
    const rest = this.pending.subarray(0, this.pendingLength);
    const n = this.src.cleanSpaces ? cleanSpaces(rest, rest.length) : rest.length;
    this.pendingLength = 0;
    return this.utf8.decode(rest.subarray(0, n));
  }

  private append(bytes: Uint8Array): void {
    if (this.pendingLength + bytes.length > this.pending.length) {
      const grown = new Uint8Array(Math.max(this.pending.length * 2, this.pendingLength + bytes.length));
      grown.set(this.pending.subarray(0, this.pendingLength));
      this.pending = grown;
    }
    this.pending.set(bytes, this.pendingLength);
    this.pendingLength += bytes.length;
  }
}
