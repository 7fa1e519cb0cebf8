const SPACE = 0x20, QUOTE = 0x27;
const ch = (s: string) => s.charCodeAt(0);

/**
 * llama.cpp's clean_up_tokenization_spaces passes over detokenized bytes, in place; returns the new length:
 * drop the space before ? ! . ,  then the spaces around a lone ' , then the space before 's 'm 're 've.
 */
export function cleanSpaces(text: Uint8Array, length: number): number {
  let total = length ? 1 : 0;
  for (let i = 1; i < length; i++) {
    const x = text[i]!;
    if (text[i - 1] === SPACE && (x === ch("?") || x === ch("!") || x === ch(".") || x === ch(","))) total--;
    text[total++] = x;
  }
  const total2 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total2; i++) {
    const x = text[i]!;
    if (x === QUOTE && i + 1 < total2 && text[i - 1] === SPACE && text[i + 1] === SPACE) {
      total--;
      text[++i] = 0;
    }
    text[total++] = x;
  }
  const total3 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total3; i++) {
    const x = text[i]!;
    if (text[i - 1] === SPACE && x === QUOTE && i + 1 < total3) {
      const x1 = text[i + 1]!;
      if (x1 === ch("s") || x1 === ch("m")) total--;
      else if (x1 !== ch("t") && x1 !== ch("d") && i + 2 < total3) {
        const x2 = text[i + 2]!;
        if ((x1 === ch("r") || x1 === ch("v")) && x2 === ch("e")) total--;
      }
    }
    text[total++] = x;
  }
  return total;
}

/**
 * Whether cleaning the bytes before and after a cut separately gives the same result as cleaning them together,
 * given the byte just before the cut. The passes only ever remove spaces, and only look past a byte to decide
 * about earlier ones when it is a space, a quote (" ' ", " 's"), or the r/v of " 're"/" 've"; any other byte
 * survives, ends every window on its left, and makes the passes leave the byte after it alone.
 */
export function isCleanCut(prevByte: number): boolean {
  return prevByte !== SPACE && prevByte !== QUOTE && prevByte !== ch("r") && prevByte !== ch("v");
}
