/**
 * GPT-2's reversible byte <-> printable-character mapping used by byte-level BPE vocabularies: printable Latin-1
 * bytes stand for themselves, the other 68 bytes are shifted to U+0100 and up.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const map = new Array<string>(256);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let shifted = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCharCode(printable(b) ? b : 256 + shifted++);
  return map;
})();

/** Inverse of BYTE_TO_CHAR indexed by UTF-16 code unit; -1 where a character is not a byte stand-in. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const map = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (map[c.charCodeAt(0)] = b));
  return map;
})();
