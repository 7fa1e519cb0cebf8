import { test } from "node:test";
import assert from "node:assert/strict";
import { Sampler, Xoshiro128, type SamplingOptions } from "../../../core/sampling/index.ts";
import { assertSameDistribution, chiSquareTest } from "./statistics.ts";
import { referenceAdjustedLogits, referenceDistribution } from "./reference.ts";

const DRAWS = 20_000;
const MIN_P_VALUE = 1e-3;
/** Everything off except what a test turns on. */
const PLAIN: SamplingOptions = { temperature: 1, topK: 0, topP: 1, minP: 0, typicalP: 1 };

/** Gaussian logits from a fixed seed (Box–Muller), so tests are reproducible. */
function syntheticLogits(vocabSize: number, scale: number, seed: number): Float32Array {
  const rng = new Xoshiro128(seed);
  const logits = new Float32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) {
    logits[i] = scale * Math.sqrt(-2 * Math.log(1 - rng.nextDouble())) * Math.cos(2 * Math.PI * rng.nextDouble());
  }
  return logits;
}

function drawCounts(sampler: Sampler, logits: Float32Array, draws: number): Float64Array {
  const counts = new Float64Array(logits.length);
  for (let i = 0; i < draws; i++) counts[sampler.sample(logits.slice())]++;
  return counts;
}

/** Checks the sampler's exact distribution against the reference chain, then its draws by chi-square. */
function checkDistribution(name: string, logits: Float32Array, options: SamplingOptions, history: number[] = []): void {
  const expected = referenceDistribution(logits, options, history);
  const sampler = new Sampler(logits.length, { seed: 1234, ...options });
  for (const t of history) sampler.accept(t);
  assertSameDistribution(sampler.probabilities(logits.slice()), expected, { absolute: 1e-6 }, name);
  const counts = drawCounts(sampler, logits, DRAWS);
  const fit = chiSquareTest(counts, expected);
  assert.equal(fit.impossibleDraws, 0, `${name}: drew a token the chain filters out`);
  assert.ok(fit.pValue > MIN_P_VALUE, `${name}: chi-square p = ${fit.pValue} (dof ${fit.dof})`);
}

const logits32 = syntheticLogits(32, 1.5, 7);

test("plain temperature sampling matches softmax(logits / T) at several temperatures", () => {
  for (const temperature of [0.3, 0.7, 1, 1.8]) checkDistribution(`T=${temperature}`, logits32, { ...PLAIN, temperature });
});

test("top-k keeps exactly the k most likely tokens", () => {
  for (const topK of [1, 5, 12]) checkDistribution(`topK=${topK}`, logits32, { ...PLAIN, topK });
});

test("top-p keeps the smallest most-likely set reaching p", () => {
  for (const topP of [0.5, 0.8, 0.95]) checkDistribution(`topP=${topP}`, logits32, { ...PLAIN, topP });
});

test("min-p drops tokens below p times the best token's probability", () => {
  for (const minP of [0.05, 0.2, 0.5]) checkDistribution(`minP=${minP}`, logits32, { ...PLAIN, minP });
});

test("typical-p keeps the tokens whose surprisal is closest to the entropy", () => {
  for (const typicalP of [0.3, 0.6, 0.9]) checkDistribution(`typicalP=${typicalP}`, logits32, { ...PLAIN, typicalP });
});

test("the default chain (top-k 40, top-p 0.95, min-p 0.05, T 0.8) and everything combined", () => {
  checkDistribution("defaults", syntheticLogits(100, 2, 3), {});
  checkDistribution("combined", syntheticLogits(100, 2, 3), { temperature: 1.3, topK: 30, typicalP: 0.9, topP: 0.9, minP: 0.02 });
});

test("penalties transform exactly the logits of tokens in the window, llama.cpp style", () => {
  const logits = new Float32Array([2, -1, 0.5, 3, -2, 1]);
  const options: SamplingOptions = { temperature: 0, repeatPenalty: 2, repeatLastN: 4, presencePenalty: 0.5, frequencyPenalty: 0.25 };
  const sampler = new Sampler(6, options);
  // Token 5 falls out of the 4-token window; 0 appears twice, 1 and 3 once.
  const history = [5, 0, 1, 0, 3];
  for (const t of history) sampler.accept(t);
  const row = logits.slice();
  sampler.sample(row);
  const expected = [2 / 2 - 2 * 0.25 - 0.5, -1 * 2 - 0.25 - 0.5, 0.5, 3 / 2 - 0.25 - 0.5, -2, 1];
  assert.deepEqual(Array.from(row), expected.map(Math.fround));
  assert.deepEqual(Array.from(row), referenceAdjustedLogits(logits, options, history));
});

test("penalised distribution matches the reference, with a window shorter than the history", () => {
  const history = [3, 3, 7, 1, 3, 9, 9, 2, 30, 31, 3];
  checkDistribution("penalties", logits32, { ...PLAIN, repeatPenalty: 1.4, repeatLastN: 6, presencePenalty: 0.3, frequencyPenalty: 0.2 }, history);
});

test("logit bias shifts logits and -Infinity bans a token", () => {
  const best = logits32.indexOf(Math.max(...logits32));
  const logitBias = { [best]: -Infinity, 3: 2.5, 4: -1 };
  checkDistribution("bias", logits32, { ...PLAIN, logitBias });
  const sampler = new Sampler(32, { ...PLAIN, logitBias, seed: 5 });
  for (let i = 0; i < 2000; i++) assert.notEqual(sampler.sample(logits32.slice()), best);
});

test("temperature 0 is the argmax after bias and penalties, whatever the other settings and seed", () => {
  const logits = syntheticLogits(1000, 2, 11);
  const argmax = logits.indexOf(Math.max(...logits));
  for (const seed of [1, 2, 3]) {
    const sampler = new Sampler(1000, { temperature: 0, topK: 3, topP: 0.1, minP: 0.9, typicalP: 0.2, seed });
    assert.equal(sampler.sample(logits.slice()), argmax);
    const p = sampler.probabilities(logits.slice());
    assert.equal(p[argmax], 1);
    assert.equal(p.reduce((a, b) => a + b, 0), 1);
  }
  const banned = new Sampler(1000, { temperature: 0, logitBias: { [argmax]: -Infinity } });
  const row = logits.slice();
  row[argmax] = -Infinity;
  assert.equal(banned.sample(logits.slice()), row.indexOf(Math.max(...row)));
  const penalised = new Sampler(1000, { temperature: 0, repeatPenalty: 1e6 });
  penalised.accept(argmax);
  assert.equal(penalised.sample(logits.slice()), row.indexOf(Math.max(...row)));
});

test("vocabulary-sized logits: fast paths (heap top-k, pre-filtered top-p/typical) equal the full-sort reference", () => {
  const vocab = 150_000;
  const wide = syntheticLogits(vocab, 3, 21);
  const peaked = syntheticLogits(vocab, 6, 22);
  const cases: SamplingOptions[] = [
    { topK: 40, topP: 0.95, minP: 0.05 },
    { topK: 0, topP: 0.9, minP: 0 },
    { topK: 0, topP: 0.5, minP: 0, temperature: 1.5 },
    { topK: 0, topP: 1, minP: 0, typicalP: 0.9 },
    { topK: 0, topP: 1, minP: 0.01 },
    { topK: 0, typicalP: 0.95, topP: 0.9, minP: 0.01 },
    { topK: 5000, topP: 0.9, minP: 0 },
  ];
  for (const logits of [wide, peaked]) {
    for (const options of cases) {
      const expected = referenceDistribution(logits, options);
      assertSameDistribution(new Sampler(vocab, options).probabilities(logits.slice()), expected, { absolute: 1e-6 }, JSON.stringify(options));
    }
  }
});

test("same seed gives the same draws; a batch of 16 interleaved samplers do not affect each other", () => {
  const logits = syntheticLogits(500, 1, 4);
  const steps = 100;
  const alone = (seed: number): number[] => {
    const s = new Sampler(500, { seed, temperature: 1, topK: 0, topP: 1, minP: 0 });
    return Array.from({ length: steps }, () => s.sample(logits.slice()));
  };
  const first = alone(42);
  assert.deepEqual(alone(42), first);
  assert.notDeepEqual(alone(43), first);

  const seeds = Array.from({ length: 16 }, (_, i) => 1000 + i);
  // Different requests in the batch use different settings, so they consume their streams differently.
  const batch = seeds.map((seed, i) => new Sampler(500, { seed, temperature: 1, topK: i % 2 ? 0 : 50, topP: 1, minP: 0 }));
  const interleaved: number[][] = seeds.map(() => []);
  for (let step = 0; step < steps; step++) {
    // A changing order per step, like requests joining and leaving a batch.
    for (let j = 0; j < 16; j++) {
      const i = (j * 5 + step) % 16;
      interleaved[i].push(batch[i].sample(logits.slice()));
    }
  }
  seeds.forEach((seed, i) => {
    const s = new Sampler(500, { seed, temperature: 1, topK: i % 2 ? 0 : 50, topP: 1, minP: 0 });
    assert.deepEqual(interleaved[i], Array.from({ length: steps }, () => s.sample(logits.slice())), `request ${i}`);
  });
});

test("reseed restarts the stream; reset starts a new request with new options", () => {
  const logits = syntheticLogits(64, 1, 9);
  const s = new Sampler(64, { seed: 7, topK: 0 });
  const a = Array.from({ length: 20 }, () => s.sample(logits.slice()));
  s.reseed(7);
  assert.deepEqual(Array.from({ length: 20 }, () => s.sample(logits.slice())), a);
  assert.equal(s.options.seed, 7);
  s.reset({ temperature: 0 });
  assert.equal(s.options.temperature, 0);
  assert.equal(s.options.topK, 40);
  assert.equal(typeof s.options.seed, "number", "a random seed is reported so the run can be reproduced");
});

test("bad inputs give SamplingErrors, not crashes", () => {
  const s = new Sampler(10, { seed: 1 });
  assert.throws(() => s.sample(new Float32Array(9)), /logits must have vocabSize \(10\) entries, got 9/);
  assert.throws(() => s.accept(10), /token must be an integer in \[0, 10\), got 10/);
  assert.throws(() => s.sample(new Float32Array(10).fill(-Infinity)), /no token can be sampled/);
  assert.throws(() => new Sampler(10, { logitBias: { 12: 1 } }), /logitBias token id 12 is outside the vocabulary/);
  assert.throws(() => new Sampler(0), /vocabSize must be a positive integer/);
  assert.throws(() => new Sampler(10, { topP: 3 }), /topP must be in \(0, 1\], got 3/);
});
