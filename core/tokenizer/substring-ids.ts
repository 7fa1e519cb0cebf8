/**
 * Token id of a substring without creating the substring: an open-addressing table over vocabulary texts hashed
 * by UTF-16 units. Loading 280k BPE merges does two lookups per merge, which through string slices and Map.get
 * dominated tokenizer load time.
 */
export class SubstringIds {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(private readonly texts: readonly string[]) {
    let size = 16;
    while (size < texts.length * 2) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    // Later duplicates win, as in the vocabulary's Map.
    texts.forEach((t, id) => {
      let i = hash(t, 0, t.length) & this.mask;
      while (this.slots[i] !== -1 && this.texts[this.slots[i]!] !== t) i = (i + 1) & this.mask;
      this.slots[i] = id;
    });
  }

  /** Id of the entry equal to s[start, end), or -1. */
  get(s: string, start: number, end: number): number {
    const len = end - start;
    for (let i = hash(s, start, end) & this.mask; ; i = (i + 1) & this.mask) {
      const id = this.slots[i]!;
      if (id === -1) return -1;
      const t = this.texts[id]!;
      if (t.length === len && s.startsWith(t, start)) return id;
    }
  }
}

/** FNV-1a over UTF-16 units. */
function hash(s: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
