import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Grammar, GrammarMatcher, type MatchState } from "../../../../core/sampling/grammar/grammar.ts";
import { jsonSchemaToGbnf } from "../../../../core/sampling/grammar/json-schema.ts";
import type { GrammarVocabulary } from "../../../../core/sampling/grammar/token-trie.ts";
import { Sampler } from "../../../../core/sampling/sampler.ts";
import { Xoshiro128 } from "../../../../core/sampling/index.ts";
import { readGguf } from "../../../../core/gguf/index.ts";
import { loadTokenizer } from "../../../../core/tokenizer/index.ts";
import { noShared, sharedModel } from "../../../helpers/index.ts";

const schemaDir = path.join(import.meta.dirname, "schemas");
const SCHEMAS = ["04-order.json", "09-tree-node.json", "26-chat-message.json", "44-string-escapes.json"];
const STEPS = 48;

/** One constrained generation over pseudo-random logits, wired as Generation wires it (token budget included). */
function run(g: Grammar, seed: number, temperature: number): number[] {
  const V = g.trie.vocabSize;
  const sampler = new Sampler(V, { temperature, seed });
  const matcher = new GrammarMatcher(g);
  let produced = 0;
  sampler.constraint = {
    mask: () => matcher.mask(STEPS - produced),
    allows: (t) => matcher.allows(t, STEPS - produced),
    memoizedMask: () => matcher.memoizedMask(STEPS - produced),
  };
  const rng = new Xoshiro128(seed);
  const logits = new Float32Array(V);
  const tokens: number[] = [];
  for (; produced < STEPS && !matcher.mustEnd; produced++) {
    for (let t = 0; t < V; t++) logits[t] = rng.nextDouble() * 8;
    const token = sampler.sample(logits);
    tokens.push(token);
    if (g.trie.isEog[token]) break;
    matcher.accept(token);
  }
  return tokens;
}

/** The masks (with the run's token budget) along these tokens, as the grammar gives them (from its cache if there). */
function masksAlong(g: Grammar, tokens: number[]): string[] {
  let state: MatchState = g.initialState;
  return tokens.map((token, i) => {
    const bits = g.mask(state, STEPS - i).bits;
    if (!g.trie.isEog[token]) state = g.next(state, token)!;
    return Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength).toString("base64");
  });
}

const storiesVocabulary = () => loadTokenizer(readGguf(sharedModel("stories15M-q8_0.gguf")));
const schemaGbnf = (file: string) => jsonSchemaToGbnf(JSON.parse(readFileSync(path.join(schemaDir, file), "utf8")));

test("memoized masks change nothing: same tokens and masks as a grammar that memoizes none, cold and warm", { skip: noShared }, () => {
  const tok = storiesVocabulary();
  for (const file of SCHEMAS) {
    const gbnf = schemaGbnf(file);
    const cached = new Grammar(gbnf, tok);
    for (const [seed, temperature] of [[1, 0.8], [2, 0], [1, 0.8], [2, 0], [3, 1]] as const) {
      // A grammar without a cache walks every mask afresh (and the sampler checks candidates one by one).
      const uncached = new Grammar(gbnf, tok, { maskCacheBytes: 0 });
      const reference = run(uncached, seed, temperature);
      assert.equal(uncached.maskCache.entries, 0);
      assert.ok(reference.length > 4, `${file}: the run is long enough to matter`);
      // The cached grammar is cold for a seed's first run and warm (every mask memoized) for its repeat.
      const served = cached.stats.masksServed;
      const got = run(cached, seed, temperature);
      assert.deepEqual(got, reference, `${file} seed ${seed} temperature ${temperature}: tokens`);
      if (seed === 1 && served > 0) assert.ok(cached.stats.masksServed > served, `${file}: the repeated run is served from the cache`);
      assert.deepEqual(masksAlong(cached, got), masksAlong(uncached, reference), `${file} seed ${seed}: masks`);
    }
  }
});

test("a memoized mask that is wrong is caught (the comparison above can fail)", { skip: noShared }, () => {
  const tok = storiesVocabulary();
  const gbnf = schemaGbnf(SCHEMAS[0]!);
  const cached = new Grammar(gbnf, tok);
  const tokens = run(cached, 1, 0.8);
  masksAlong(cached, tokens);
  // Corrupt every memoized mask: drop its lowest allowed token.
  for (const entry of (cached as unknown as { masks: Map<unknown, { mask: { bits: Uint32Array } }> }).masks.values()) {
    const bits = entry.mask.bits;
    const w = bits.findIndex((x) => x !== 0);
    bits[w] = bits[w]! & (bits[w]! - 1);
  }
  const uncached = new Grammar(gbnf, tok, { maskCacheBytes: 0 });
  assert.notDeepEqual(masksAlong(cached, tokens), masksAlong(uncached, tokens));
});

/** A vocabulary of the given strings; the last token is end-of-generation. */
function vocabOf(pieces: string[]): GrammarVocabulary {
  const bytes = pieces.map((p) => new TextEncoder().encode(p));
  return { vocabSize: bytes.length + 1, piece: (id) => bytes[id] ?? new TextEncoder().encode("</s>"), isEndOfGeneration: (id) => id === bytes.length };
}

test("the mask cache stays within its bound, dropping the least recently used mask first", () => {
  const letters = "abcdefghij".split("");
  const vocab = vocabOf(letters);
  // Each position of the word is its own state with its own one-token mask.
  const source = `root ::= ${letters.map((l) => `"${l}"`).join(" ")}`;
  const unbounded = new Grammar(source, vocab);
  const states: MatchState[] = [unbounded.initialState];
  for (let i = 0; i < letters.length; i++) states.push(unbounded.next(states[i]!, i)!);
  for (const s of states) unbounded.mask(s);
  const perMask = unbounded.maskCache.bytes / states.length;
  assert.equal(unbounded.maskCache.entries, states.length);

  const bound = Math.floor(perMask * 3.5); // room for three masks
  const g = new Grammar(source, vocab, { maskCacheBytes: bound });
  for (const s of states.slice(0, 3)) g.mask(s);
  assert.equal(g.maskCache.entries, 3);
  g.mask(states[0]!); // used again: now the most recent
  g.mask(states[3]!); // a fourth: the least recently used (states[1]) goes
  assert.equal(g.maskCache.entries, 3);
  assert.ok(g.maskCache.bytes <= bound);
  assert.ok(g.memoizedMask(states[0]!) !== undefined, "the mask used again is kept");
  assert.equal(g.memoizedMask(states[1]!), undefined, "the least recently used mask is dropped");
  for (const s of states) {
    g.mask(s);
    assert.ok(g.maskCache.bytes <= bound, `cache holds ${g.maskCache.bytes} bytes, bound ${bound}`);
  }
  // A dropped mask is walked again, and equals the one an unbounded cache keeps.
  const computed = g.stats.masksComputed;
  assert.deepEqual(g.mask(states[0]!).bits, unbounded.mask(states[0]!).bits);
  assert.equal(g.stats.masksComputed, computed + 1);
  assert.throws(() => new Grammar(source, vocab, { maskCacheBytes: -1 }), /maskCacheBytes/);
});
