// Test helpers: Pearson's chi-square goodness-of-fit with a p-value from the Wilson–Hilferty approximation, and
// an exact comparison of two distributions.
import assert from "node:assert/strict";

/**
 * Same support (which tokens have p > 0), and every probability within `absolute + relative * max(a, b)` of the
 * expected one; a failure names the worst token.
 */
export function assertSameDistribution(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: { absolute: number; relative?: number },
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: vocabulary size`);
  const { absolute, relative = 0 } = tolerance;
  const excess = (i: number) => Math.abs(actual[i] - expected[i]) / (absolute + relative * Math.max(actual[i], expected[i]));
  let worst = 0;
  for (let i = 1; i < actual.length; i++) if (excess(i) > excess(worst)) worst = i;
  assert.ok(excess(worst) <= 1, `${what}: p[${worst}] = ${actual[worst]}, expected ${expected[worst]}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] > 0 !== expected[i] > 0) assert.fail(`${what}: token ${i} kept by one and dropped by the other (${actual[i]} vs ${expected[i]})`);
  }
}

/** Standard normal upper tail, via Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7). */
function normalUpperTail(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erfc = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/** P(X >= statistic) for X ~ chi-square(dof): (X/k)^(1/3) is close to normal with mean 1 - 2/(9k), var 2/(9k). */
export function chiSquarePValue(statistic: number, dof: number): number {
  const v = 2 / (9 * dof);
  return normalUpperTail((Math.cbrt(statistic / dof) - (1 - v)) / Math.sqrt(v));
}

/**
 * Goodness of fit of observed counts to expected probabilities. Categories expecting fewer than 5 draws are pooled
 * (the chi-square approximation needs that); draws of a zero-probability category are reported separately because
 * they are an outright failure, not a statistical one.
 */
export function chiSquareTest(counts: ArrayLike<number>, probabilities: ArrayLike<number>): { pValue: number; impossibleDraws: number; dof: number } {
  let draws = 0;
  for (let i = 0; i < counts.length; i++) draws += counts[i];
  let statistic = 0;
  let categories = 0;
  let pooledObserved = 0;
  let pooledExpected = 0;
  let impossibleDraws = 0;
  for (let i = 0; i < counts.length; i++) {
    const expected = probabilities[i] * draws;
    if (probabilities[i] === 0) {
      impossibleDraws += counts[i];
    } else if (expected < 5) {
      pooledObserved += counts[i];
      pooledExpected += expected;
    } else {
      statistic += (counts[i] - expected) ** 2 / expected;
      categories++;
    }
  }
  if (pooledExpected > 0) {
    statistic += (pooledObserved - pooledExpected) ** 2 / pooledExpected;
    categories++;
  }
  const dof = Math.max(1, categories - 1);
  return { pValue: categories > 1 ? chiSquarePValue(statistic, dof) : 1, impossibleDraws, dof };
}
