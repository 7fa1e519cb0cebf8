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
  /** isEog[id] = 1 for end-of-generation tokens (a lookup for the per-candidate checks). */
  readonly isEog: Uint8Array;
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
    this.isEog = new Uint8Array(n);
    for (const id of eog) this.isEog[id] = 1;
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id - b.id));

    // Nodes are created in preorder as the sorted keys are inserted; every key adds at most its length in nodes.
    const capacity = keyed.reduce((a, k) => a + k.key.length, 1);
    const bytes = new Uint8Array(capacity), depths = new Uint16Array(capacity), ends = new Int32Array(capacity);
    const endOf = new Int32Array(keyed.length); // each key's node
    let count = 1;
    const path: number[] = [0]; // node ids along the current key, path[d] at depth d
    let prev = "";
    const close = (to: number) => {
      while (path.length - 1 > to) ends[path.pop()!] = count;
    };
    keyed.forEach(({ key }, k) => {
      let common = 0;
      while (common < key.length && common < prev.length && key.charCodeAt(common) === prev.charCodeAt(common)) common++;
      close(common);
      for (let d = common; d < key.length; d++) {
        path.push(count);
        bytes[count] = key.charCodeAt(d);
        depths[count] = d + 1;
        count++;
      }
      endOf[k] = path[path.length - 1]!;
      prev = key;
    });
    close(0);
    ends[0] = count;

    this.byte = bytes.slice(0, count);
    this.depth = depths.slice(0, count);
    this.subtreeEnd = ends.slice(0, count);
    // Tokens grouped by node (keys are in node order already: a counting pass suffices).
    this.tokenStart = new Int32Array(count + 1);
    for (let k = 0; k < keyed.length; k++) this.tokenStart[endOf[k]! + 1]!++;
    for (let i = 0; i < count; i++) this.tokenStart[i + 1]! += this.tokenStart[i]!;
    this.tokenIds = Int32Array.from(keyed, (k) => k.id);
    this.maxDepth = this.depth.reduce((a, b) => Math.max(a, b), 0);
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
