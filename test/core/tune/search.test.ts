import { test } from "node:test";
import assert from "node:assert/strict";
import { confirmedFaster, paretoFront, wonRace, tune, type CandidateRow } from "../../../core/tune/search.ts";
import { defaultSpace, describePoint, neighbours, type SearchSpace, type TunePoint } from "../../../core/tune/space.ts";
import type { WorkloadFigures } from "../../../core/tune/measure.ts";
import { noShared, sharedModel } from "../../helpers/paths.ts";

const base: TunePoint = { threads: 2, maxSeqs: 8, maxBatchTokens: 512, maxWaitMs: 0, kvType: "f16", kvBlockSize: 16 };
const small: SearchSpace = {
  threads: [1, 2], maxSeqs: [8, 4], maxBatchTokens: [512, 64], maxWaitMs: [], kvType: [], kvBlockSize: [16, 32], speculative: [], earlyExit: [],
};

test("the search measures the starting point and each knob's values, within its budget, and reports its settings", { skip: noShared }, async () => {
  const progress: number[] = [];
  const r = await tune({
    model: sharedModel("stories260K.gguf"), prompts: ["Once upon a time", "The dog"], target: "throughput", streams: 8, budgetMs: 20_000,
    genTokens: 8, maxPplRise: 0.01, base, space: small, rounds: 2, onProgress: (s) => progress.push(s.progress),
  });
  assert.equal(r.done, true);
  assert.equal(r.stopped, false);
  assert.ok(r.elapsedMs < 30_000, `took ${r.elapsedMs} ms`);
  assert.equal(r.base.label, "defaults");
  assert.ok(r.base.figures && r.base.figures.tokensPerS > 0);
  assert.ok(r.rows.some((x) => x.label === "threads 1"), "the first knob's other value was tried");
  // Every candidate that ran has its ratio to the incumbent; the base is the reference, with none.
  assert.equal(r.rows[0]!.key, r.base.key);
  assert.equal(r.base.ratio, undefined);
  for (const row of r.rows.slice(1).filter((x) => x.samples.length > 0)) assert.ok(row.ratio! > 0, row.label);
  assert.ok(r.rows.every((x) => ["measured", "dropped", "queued"].includes(x.status)), r.rows.map((x) => `${x.label}: ${x.status} ${x.note ?? ""}`).join("\n"));
  assert.deepEqual(r.settings.knobs, ["threads", "maxSeqs", "maxBatchTokens", "kvBlockSize"]);
  assert.equal(r.settings.genTokens, 8);
  // The chosen point is the base unless it was confirmed faster side by side.
  if (r.best.key !== r.base.key) assert.ok(r.confirm && r.confirm.kept && r.confirm.ratio >= 1.02);
  assert.ok(progress.length > 3 && progress.at(-1) === 1);
});

test("a stopped search returns at once with the best configuration so far", { skip: noShared }, async () => {
  const controller = new AbortController();
  let measured = 0;
  const r = await tune({
    model: sharedModel("stories260K.gguf"), prompts: ["Once upon a time"], target: "throughput", streams: 4, budgetMs: 60_000,
    genTokens: 8, maxPplRise: 0.01, base, space: small, signal: controller.signal,
    onProgress: (s) => {
      measured = s.rows.reduce((n, x) => n + x.samples.length, 0);
      if (measured >= 3) controller.abort();
    },
  });
  assert.equal(r.stopped, true);
  assert.match(r.phase, /stopped/);
  assert.ok(r.best.figures, "the best so far has figures");
  assert.ok(r.elapsedMs < 30_000);
});

test("bad workloads and targets are refused by name", async () => {
  const o = { model: "x.gguf", target: "throughput" as const, streams: 4, budgetMs: 1000, maxPplRise: 0.01, base };
  await assert.rejects(tune({ ...o, prompts: [] }), /no prompts/);
  await assert.rejects(tune({ ...o, prompts: ["a"], budgetMs: 0 }), /budget must be positive/);
  await assert.rejects(tune({ ...o, prompts: ["a"], target: "both" }), /p99 latency bound/);
  await assert.rejects(tune({ ...o, prompts: ["a"], streams: 0 }), /streams must be a positive integer/);
});

test("the search space: one knob's other values, a latency tune leaves batching alone, q8_0 KV only for head sizes of 32k", () => {
  const space = defaultSpace({ cores: 2, streams: 32, nLayer: 6, headDim: 48, hasDraft: false, target: "throughput" });
  assert.deepEqual(space.kvType, ["f16", "f32"]);
  assert.deepEqual(space.maxSeqs, [32, 16, 8]);
  assert.deepEqual(space.earlyExit, [undefined, [{ layer: 3, threshold: 0.95 }, { layer: 4, threshold: 0.95 }], [{ layer: 3, threshold: 0.8 }, { layer: 4, threshold: 0.8 }]]);
  assert.deepEqual(neighbours(base, "threads", space).map((p) => p.threads), [1]);
  assert.equal(describePoint(neighbours(base, "earlyExit", space)[0]!, base), "exit L3-4@0.95");
  const latency = defaultSpace({ cores: 2, streams: 32, nLayer: 24, headDim: 64, hasDraft: true, target: "latency" });
  assert.deepEqual(latency.maxSeqs, []);
  assert.deepEqual(latency.maxWaitMs, []);
  assert.ok(latency.kvType.includes("q8_0"));
  assert.ok(latency.speculative.some((s) => s?.mode === "draft"));
});

test("the Pareto front keeps the rows no other beats on both throughput and latency", () => {
  const row = (label: string, tokensPerS: number, p99Ms: number): CandidateRow => {
    const f: WorkloadFigures = { tokensPerS, p99Ms, ttftMs: 1, msPerToken: 1, wallMs: 1 };
    return { key: label, point: base, label, status: "measured", figures: f, samples: [f] };
  };
  const front = paretoFront([row("a", 100, 10), row("b", 200, 20), row("c", 150, 25), row("d", 50, 5), row("e", 200, 30)], "throughput");
  assert.deepEqual(front.map((r) => r.label), ["b", "a", "d"]);
});

test("a chosen point is kept only when 2% faster side by side, and a latency tune's with neither latency worse", () => {
  // Matching the defaults is not enough: on noise it would pass half the time with a recipe that differs for nothing.
  assert.equal(confirmedFaster({ score: 1.0, ttft: 1, tpot: 1 }, "throughput"), false);
  assert.equal(confirmedFaster({ score: 1.015, ttft: 1, tpot: 1 }, "throughput"), false);
  assert.equal(confirmedFaster({ score: 1.03, ttft: 1.2, tpot: 1.1 }, "throughput"), true);
  assert.equal(confirmedFaster({ score: 1.03, ttft: 0.9, tpot: 0.95 }, "latency"), true);
  assert.equal(confirmedFaster({ score: 1.03, ttft: 1.05, tpot: 0.9 }, "latency"), false);
  assert.equal(confirmedFaster({ score: 1.03, ttft: 0.9, tpot: 1.05 }, "latency"), false);
});

test("a candidate wins its knob's race with enough rounds, a 2% median gain and no round lost", () => {
  assert.equal(wonRace([1.2, 1.1, 1.3], 2), true);
  assert.equal(wonRace([1.4, 0.95, 1.3], 2), false, "a lost round: the median alone is noise-prone");
  assert.equal(wonRace([1.01, 1.015, 1.01], 2), false, "below the 2% gain");
  assert.equal(wonRace([1.3], 2), false, "one round is not enough");
  assert.equal(wonRace([1.3], 1), true);
});
