/** What the grammar needs from a vocabulary. */
export interface GrammarVocabulary {
  readonly vocabSize: number;
  /** A token's bytes as llama.cpp's token_to_piece(special = true) renders them (the text a grammar matches). */
  piece(id: number, renderSpecial: boolean): Uint8Array;
  isEndOfGeneration(id: number): boolean;
}

/**
 * Every token's bytes in one trie laid out in depth-first preorder as flat typed arrays: node i's subtree is
 * nodes [i, subtreeEnd[i]), so a walk is a forward scan that jumps past the subtrees the grammar rules out,
 * with no per-token objects. Tokens that share bytes share a node. Bytes after a NUL are dropped, since
 * llama.cpp reads pieces as C strings.
 */
export class TokenTrie {
  readonly vocabSize: number;
  readonly byte: Uint8Array;
  readonly depth: Uint16Array;
  readonly subtreeEnd: Int32Array;
  /** Tokens ending at node i: tokenIds[tokenStart[i] .. tokenStart[i + 1]). */
  readonly tokenStart: Int32Array;
  readonly tokenIds: Int32Array;
  /** End-of-generation tokens (allowed only where the grammar may end). */
  readonly eog: Int32Array;
  /** Each token's bytes (for advancing a grammar by the token actually chosen). */
  readonly pieces: Uint8Array[];
  readonly maxDepth: number;

  constructor(vocab: GrammarVocabulary) {
    const n = vocab.vocabSize;
    this.vocabSize = n;
    const eog: number[] = [];
    const keyed: { key: string; id: number }[] = [];
    this.pieces = new Array<Uint8Array>(n);
    for (let id = 0; id < n; id++) {
      let p = vocab.piece(id, true);
      const nul = p.indexOf(0);
      if (nul >= 0) p = p.subarray(0, nul);
      this.pieces[id] = p;
      if (vocab.isEndOfGeneration(id)) eog.push(id);
      else if (p.length > 0) keyed.push({ key: String.fromCharCode(...p), id });
    }
    this.eog = Int32Array.from(eog);
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id - b.id));

    const bytes: number[] = [0], depths: number[] = [0], ends: number[] = [0];
    const tokenAt: number[][] = [[]];
    const path: number[] = [0]; // node ids along the current key, path[d] at depth d
    let prev = "";
    const close = (to: number) => {
      while (path.length - 1 > to) ends[path.pop()!] = bytes.length;
    };
    for (const { key, id } of keyed) {
      let common = 0;
      while (common < key.length && common < prev.length && key.charCodeAt(common) === prev.charCodeAt(common)) common++;
      close(common);
      for (let d = common; d < key.length; d++) {
        path.push(bytes.length);
        bytes.push(key.charCodeAt(d));
        depths.push(d + 1);
        ends.push(0);
        tokenAt.push([]);
      }
      tokenAt[path[path.length - 1]!]!.push(id);
      prev = key;
    }
    close(0);
    ends[0] = bytes.length;

    const count = bytes.length;
    this.byte = Uint8Array.from(bytes);
    this.depth = Uint16Array.from(depths);
    this.subtreeEnd = Int32Array.from(ends);
    this.tokenStart = new Int32Array(count + 1);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      this.tokenStart[i] = ids.length;
      ids.push(...tokenAt[i]!);
    }
    this.tokenStart[count] = ids.length;
    this.tokenIds = Int32Array.from(ids);
    this.maxDepth = depths.reduce((a, b) => Math.max(a, b), 0);
  }

  get nodeCount(): number {
    return this.byte.length;
  }
}

const tries = new WeakMap<GrammarVocabulary, TokenTrie>();

/** One trie per vocabulary, built on first use. */
export function tokenTrieOf(vocab: GrammarVocabulary): TokenTrie {
  let t = tries.get(vocab);
  if (!t) tries.set(vocab, (t = new TokenTrie(vocab)));
  return t;
}
