import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Grammar, GrammarMatcher, type MatchState } from "../../../../core/sampling/grammar/grammar.ts";
import type { GrammarVocabulary } from "../../../../core/sampling/grammar/token-trie.ts";
import { readGguf } from "../../../../core/gguf/index.ts";
import { loadTokenizer } from "../../../../core/tokenizer/index.ts";
import { Xoshiro128 } from "../../../../core/sampling/index.ts";
import { repoRoot, sharedDir, noShared, sharedModel } from "../../../helpers/index.ts";

const grammarFile = (name: string) => readFileSync(path.join(repoRoot, "node_modules/node-llama-cpp/llama/grammars", name), "utf8");

/** A vocabulary of the given byte strings; the last token is end-of-generation. */
function vocabOf(pieces: (string | number[])[]): GrammarVocabulary {
  const bytes = pieces.map((p) => (typeof p === "string" ? new Uint8Array(Buffer.from(p, "utf8")) : Uint8Array.from(p)));
  return { vocabSize: bytes.length + 1, piece: (id) => bytes[id] ?? new TextEncoder().encode("</s>"), isEndOfGeneration: (id) => id === bytes.length };
}

function allowedIds(g: Grammar, s: MatchState, tokensLeft = Infinity): number[] {
  const m = g.mask(s, tokensLeft);
  const out: number[] = [];
  for (let t = 0; t < g.trie.vocabSize; t++) if (m.bits[t >>> 5]! & (1 << (t & 31))) out.push(t);
  assert.equal(out.length, m.count);
  return out;
}

test("masks follow the grammar token by token, end-of-generation only where it may end", () => {
  const pieces = ["a", "b", "ab", "ba", "{", "}", "{}", "", "c"];
  const eog = pieces.length;
  const g = new Grammar('root ::= "{" ("a" | "b")* "}"', vocabOf(pieces));
  const m = new GrammarMatcher(g);
  const names = (ids: number[]) => ids.map((i) => (i === eog ? "EOG" : pieces[i]));
  assert.deepEqual(names(allowedIds(g, g.initialState)), ["{", "{}"]);
  m.accept(4);
  assert.deepEqual(names(allowedIds(g, (m as unknown as { state: MatchState }).state)), ["a", "b", "ab", "ba", "}"]);
  m.accept(2);
  assert.equal(m.canEnd, false);
  m.accept(5);
  assert.equal(m.mustEnd, true);
  assert.deepEqual(names(allowedIds(g, (m as unknown as { state: MatchState }).state)), ["EOG"]);
  assert.throws(() => m.accept(0), /does not continue the grammar/);
});

test("UTF-8 split across tokens is matched as llama.cpp's decode_utf8 does", () => {
  // 日 = E6 97 A5; tokens holding parts of it, and one with a continuation byte where a lead byte belongs.
  const pieces: (string | number[])[] = ["日", [0xe6], [0x97, 0xa5], [0xe6, 0x97], [0xa5], [0x97], "x", [0xa5, 0x41]];
  const g = new Grammar('root ::= [一-鿿]+ "x"', vocabOf(pieces));
  const start = allowedIds(g, g.initialState);
  assert.deepEqual(start, [0, 1, 3]); // whole char, or lead bytes that can still become one
  const afterLead = g.next(g.initialState, 1)!;
  // Continuations that complete (97 A5 -> 日) or can still complete (E6 A5.., E6 97..) a character in range.
  assert.deepEqual(allowedIds(g, afterLead), [2, 4, 5]);
  const afterTwo = g.next(g.initialState, 3)!;
  // A5 or 97 complete a character in range; "A5 41" completes 日 and then 'A' is refused.
  assert.deepEqual(allowedIds(g, afterTwo), [4, 5]);
  const done = g.next(afterTwo, 4)!;
  assert.deepEqual(allowedIds(g, done), [0, 1, 3, 6]);
});

test("a generation short of tokens is steered to close its output", () => {
  const pieces = ["[", "]", "1", ",", "11", "1,", "[1"];
  const g = new Grammar('root ::= "[" ("1" ("," "1")*)? "]"', vocabOf(pieces));
  const after = g.next(g.next(g.initialState, 0)!, 2)!; // "[1"
  assert.deepEqual(allowedIds(g, after), [1, 3]); // "]" ","
  assert.deepEqual(allowedIds(g, after, 2), [1]); // "," would need two more tokens ("1", "]"): only "]" fits
  assert.deepEqual(allowedIds(g, after, 3), [1, 3]);
});

test("token elements <[id]> and !<[id]> match whole tokens", () => {
  const pieces = ["a", "b", "c"];
  const g = new Grammar("root ::= <[1]> !<[0]>", vocabOf(pieces));
  assert.deepEqual(allowedIds(g, g.initialState), [1]);
  assert.deepEqual(allowedIds(g, g.next(g.initialState, 1)!), [1, 2]);
});

/** Every token of a real vocabulary: the trie walk's mask equals advancing by the token alone. */
function checkMasksAgainstTokens(g: Grammar, states: MatchState[]): void {
  for (const s of states) {
    const m = g.mask(s);
    for (let t = 0; t < g.trie.vocabSize; t++) {
      const inMask = (m.bits[t >>> 5]! & (1 << (t & 31))) !== 0;
      if (inMask !== (g.next(s, t) !== undefined)) assert.fail(`token ${t}: mask says ${inMask}`);
    }
  }
}

/** States along random constrained walks (each token drawn uniformly from the mask). */
function statesAlongWalks(g: Grammar, walks: number, length: number, seed: number): MatchState[] {
  const rng = new Xoshiro128(seed);
  const out: MatchState[] = [];
  for (let w = 0; w < walks; w++) {
    let s = g.initialState;
    for (let i = 0; i < length; i++) {
      const m = g.mask(s);
      if (m.count === 0 || g.mustEnd(s)) break;
      const ids = allowedIds(g, s).filter((t) => !g.trie.eog.includes(t));
      if (ids.length === 0) break;
      s = g.next(s, ids[Math.floor(rng.nextDouble() * ids.length)]!)!;
      out.push(s);
    }
  }
  return out;
}

for (const [name, file] of [["stories15M (SPM)", sharedModel("stories15M-q8_0.gguf")], ["qwen2 (byte-level BPE)", path.join(sharedDir, "fixtures/vocab/ggml-vocab-qwen2.gguf")]] as const) {
  test(`masks equal per-token matching over the ${name} vocabulary`, { skip: noShared }, () => {
    const tok = loadTokenizer(readGguf(file));
    for (const f of ["json.gbnf", "japanese.gbnf", "arithmetic.gbnf"]) {
      const g = new Grammar(grammarFile(f), tok);
      checkMasksAgainstTokens(g, statesAlongWalks(g, 2, 12, 7).filter((_, i) => i % 3 === 0));
    }
  });
}
