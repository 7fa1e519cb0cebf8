import { Attr, type Vocab } from "./vocab.ts";

/** A piece of input: raw text still to tokenize, or a special token already recognised. */
export type Fragment = { text: string } | { token: number };

/** ASCII whitespace as C's isspace() sees it, which llama.cpp uses for LSTRIP/RSTRIP. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

interface TrieNode {
  children: Map<number, TrieNode>;
  /** Special token whose text ends here, or -1. */
  id: number;
}

/**
 * llama.cpp's tokenizer_st_partition: pull special-token texts out of the input, longest first. Control and
 * unknown tokens are only recognised when parseSpecial is set; user-defined tokens always are.
 * Some vocabularies have thousands of special tokens, so one pass over the text with a trie of their texts first
 * finds the few that occur at all; only those go through the token-by-token partition.
 */
export class SpecialSplitter {
  private readonly root: TrieNode = { children: new Map(), id: -1 };
  /** Position of each special token in llama.cpp's processing order (longest text first). */
  private readonly order = new Map<number, number>();

  constructor(private readonly vocab: Vocab) {
    vocab.specialIds.forEach((id, rank) => {
      this.order.set(id, rank);
      let node = this.root;
      const text = vocab.texts[id]!;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        let next = node.children.get(c);
        if (!next) node.children.set(c, (next = { children: new Map(), id: -1 }));
        node = next;
      }
      if (node.id === -1) node.id = id;
    });
  }

  split(text: string, parseSpecial: boolean): Fragment[] {
    let fragments: Fragment[] = text.length ? [{ text }] : [];
    for (const id of this.occurring(text, parseSpecial)) fragments = this.cut(fragments, id);
    return fragments;
  }

  /** Special tokens whose text occurs somewhere in `text`, in processing order. */
  private occurring(text: string, parseSpecial: boolean): number[] {
    const found = new Set<number>();
    for (let start = 0; start < text.length; start++) {
      let node = this.root.children.get(text.charCodeAt(start));
      for (let i = start + 1; node; i++) {
        if (node.id >= 0) found.add(node.id);
        if (i >= text.length) break;
        node = node.children.get(text.charCodeAt(i));
      }
    }
    const skip = parseSpecial ? 0 : Attr.CONTROL | Attr.UNKNOWN;
    return [...found].filter((id) => !(this.vocab.attrs[id]! & skip)).sort((a, b) => this.order.get(a)! - this.order.get(b)!);
  }

  private cut(fragments: Fragment[], id: number): Fragment[] {
    const attr = this.vocab.attrs[id]!;
    const special = this.vocab.texts[id]!;
    const next: Fragment[] = [];
    for (const f of fragments) {
      if (!("text" in f)) {
        next.push(f);
        continue;
      }
      const raw = f.text;
      let from = 0;
      for (;;) {
        const at = raw.indexOf(special, from);
        if (at < 0) break;
        let leftEnd = at;
        if (attr & Attr.LSTRIP) while (leftEnd > from && isSpace(raw.charCodeAt(leftEnd - 1))) leftEnd--;
        if (leftEnd > from) next.push({ text: raw.slice(from, leftEnd) });
        next.push({ token: id });
        from = at + special.length;
        if (attr & Attr.RSTRIP) while (from < raw.length && isSpace(raw.charCodeAt(from))) from++;
      }
      if (from === 0) next.push(f);
      else if (from < raw.length) next.push({ text: raw.slice(from) });
    }
    return next;
  }
}
