// The sampler under a grammar takes shortcuts: for a state whose mask is not memoized it checks its best candidates
// one by one (and gives up early in sparse states), for a memoized one it reads the mask inside its top-k pass.
// Both must draw exactly the tokens of the plain path, which builds the whole mask at every step.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Grammar, GrammarMatcher } from "../../../core/sampling/grammar/grammar.ts";
import { jsonSchemaToGbnf } from "../../../core/sampling/grammar/json-schema.ts";
import { Sampler, type TokenConstraint } from "../../../core/sampling/sampler.ts";
import type { SamplingOptions } from "../../../core/sampling/options.ts";
import { Xoshiro128 } from "../../../core/sampling/index.ts";
import { readGguf } from "../../../core/gguf/index.ts";
import { loadTokenizer } from "../../../core/tokenizer/index.ts";
import { noShared, sharedDir, sharedModel } from "../../helpers/index.ts";

const schemaDir = path.join(import.meta.dirname, "grammar/schemas");
const SCHEMAS = ["01-user-profile.json", "04-order.json", "09-tree-node.json", "10-shape-oneof.json", "31-semver.json", "44-string-escapes.json"];
const SETTINGS: SamplingOptions[] = [
  { temperature: 0 },
  { temperature: 0.8 }, // llama.cpp's defaults: top-k 40, top-p 0.95, min-p 0.05
  { temperature: 1, topK: 3, topP: 1, minP: 0 },
  { temperature: 1, topK: 0, topP: 0.9 }, // no top-k: the whole mask is needed
];
const STEPS = 40;
/** Token budgets (maxTokens): a loose one, and one tight enough that the mask steers the output to close in time
 *  (where no token fits it, the candidate check refuses all and the mask decides). */
const LOOSE = 400, TIGHT = STEPS;

type Path = "plain" | "shortcuts";

interface Run { tokens: number[]; checks: number; walks: number }

/**
 * One constrained generation over pseudo-random logits. At half the steps some allowed tokens (found from the mask
 * of a separate grammar, so the grammar under test learns nothing) get a boost, so the best candidates are often
 * allowed even in sparse states, as with a real model: both the checks that succeed and those that give up run.
 * `plain`: the constraint offers only mask(), the path without shortcuts. `refused`: a token the candidate check
 * wrongly refuses (to show the comparison can fail).
 */
function run(gbnf: string, vocab: ReturnType<typeof loadTokenizer>, oracle: Grammar, seed: number, options: SamplingOptions, budget: number, path: Path, refused?: number): Run {
  const g = new Grammar(gbnf, vocab);
  const V = g.trie.vocabSize;
  const sampler = new Sampler(V, { ...options, seed });
  const matcher = new GrammarMatcher(g);
  let produced = 0, checks = 0;
  const constraint: TokenConstraint = { mask: () => matcher.mask(budget - produced) };
  if (path === "shortcuts") {
    constraint.allows = (t) => (checks++, t !== refused && matcher.allows(t, budget - produced));
    constraint.memoizedMask = () => matcher.memoizedMask(budget - produced);
  }
  sampler.constraint = constraint;
  const rng = new Xoshiro128(seed);
  const logits = new Float32Array(V);
  const tokens: number[] = [];
  let state = oracle.initialState;
  for (; produced < STEPS && !matcher.mustEnd; produced++) {
    for (let t = 0; t < V; t++) logits[t] = rng.nextDouble() * 8;
    if (rng.nextDouble() < 0.5) {
      const allowed = oracle.mask(state, budget - produced);
      const ids = allowed.allowed ?? Int32Array.from({ length: V }, (_, t) => t).filter((t) => (allowed.bits[t >>> 5]! & (1 << (t & 31))) !== 0);
      for (let i = 0; i < ids.length; i++) if (rng.nextDouble() < 0.3) logits[ids[i]!]! += 6;
    }
    const token = sampler.sample(logits);
    tokens.push(token);
    if (g.trie.isEog[token]) break;
    matcher.accept(token);
    state = oracle.next(state, token)!;
  }
  return { tokens, checks, walks: g.stats.masksComputed };
}

const vocabularies = () => [
  ["stories15M", loadTokenizer(readGguf(sharedModel("stories15M-q8_0.gguf")))],
  ["qwen2", loadTokenizer(readGguf(path.join(sharedDir, "fixtures/vocab/ggml-vocab-qwen2.gguf")))],
] as const;
const schemaGbnf = (file: string) => jsonSchemaToGbnf(JSON.parse(readFileSync(path.join(schemaDir, file), "utf8")));

test("the sampler's shortcuts under a grammar draw the tokens the whole mask gives, greedy and sampled", { skip: noShared }, () => {
  let checks = 0, walks = 0, plainWalks = 0;
  for (const [name, vocab] of vocabularies()) {
    for (const file of SCHEMAS) {
      const gbnf = schemaGbnf(file);
      const oracle = new Grammar(gbnf, vocab);
      for (const options of SETTINGS) {
        for (const seed of [1, 2]) {
          const budget = seed === 1 ? LOOSE : TIGHT;
          const plain = run(gbnf, vocab, oracle, seed, options, budget, "plain");
          const fast = run(gbnf, vocab, oracle, seed, options, budget, "shortcuts");
          assert.deepEqual(fast.tokens, plain.tokens, `${name} ${file} ${JSON.stringify(options)} seed ${seed} budget ${budget}`);
          checks += fast.checks;
          walks += fast.walks;
          plainWalks += plain.walks;
        }
      }
    }
  }
  // Both ways were taken: candidates checked one by one, and masks walked (sparse states, top-k 0).
  assert.ok(checks > 1000, `candidates checked: ${checks}`);
  assert.ok(walks > 0 && walks < plainWalks, `masks walked: ${walks} with the shortcuts, ${plainWalks} without`);
});

test("a wrong candidate check is caught (the comparison above can fail)", { skip: noShared }, () => {
  const [, vocab] = vocabularies()[0];
  const gbnf = schemaGbnf("04-order.json");
  const oracle = new Grammar(gbnf, vocab);
  const plain = run(gbnf, vocab, oracle, 1, { temperature: 0 }, LOOSE, "plain");
  // The check refuses a token the grammar allows: one the plain run drew where the check decided alone.
  const caught = plain.tokens.some((t) => JSON.stringify(run(gbnf, vocab, oracle, 1, { temperature: 0 }, LOOSE, "shortcuts", t).tokens) !== JSON.stringify(plain.tokens));
  assert.ok(caught);
});
