// Cost of structured output: decode speed with a JSON Schema against unconstrained decode, same model, threads,
// prompt and sampling, in fresh processes alternating (free, schema, free, schema ...); the report is the median
// of the per-round ratios, by wall-clock decode speed and by CPU time per token (all threads; steadier when
// other work shares the machine). Like with like: a round's two runs are compared over the same tokens (the
// schema's output usually ends first: both rates are taken over its length, from the first token on, so prefill
// and the first token are out and the free run's longer KV does not count against it), and the measured runs
// copy nothing for the replay below (a schema run used to copy every logits row it sampled, 600 KB a token on
// Qwen2.5's vocabulary, in its timed decode). Also the grammar's own time per generated token, in µs: the time a
// token's sampling and grammar advance take under the schema (masks, including the first computation of each
// state's mask, the candidates checked one by one, advancing the matcher) less the time sampling takes
// unconstrained. It is timed per token (one clock pair around the sampler's draw and one around the advance), not
// per grammar call, so the timing itself stays small beside what it measures. Wall-clock time swells with the
// machine's load, so the schema child also replays its runs' logits (warm-ups and measured, recorded in
// untimed runs with the same seeds, which must draw the same tokens) through a fresh grammar and sampler, CPU time
// only, with and without the schema, five times: the difference of the least times is the replayed grammar figure
// (JIT-warm, as in a long-running server; a process's first replay costs ~2-3x, like the measured run).
//   usage: npx tsx bench/grammar.ts [--rounds 5] [--threads 2] [-n 192] [--temp 0.8] [--parallel 1] [--warmup 1] [file.gguf]
// A round's runs first generate --warmup times (seeds 1, 2, ...) to warm the grammar (compiled once per engine, as a
// server would keep it) and the JIT, then measure a generation with another seed (1000). One warm-up leaves the
// measured run in a half-cold process (its sampling + grammar costs ~5x its replay) with ~40% of its states new;
// a long-running server is past both, which more warm-ups approach (none sees the measured text).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fmt, median, medianRatio, model } from "./lib.ts";
import type { GrammarVocabulary } from "../core/sampling/grammar/token-trie.ts";

const SCHEMA = {
  type: "array",
  minItems: 1,
  items: {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 40 },
      age: { type: "integer", minimum: 0, maximum: 120 },
      email: { type: "string", format: "email" },
      tags: { type: "array", items: { type: "string", maxLength: 16 }, maxItems: 4 },
      active: { type: "boolean" },
    },
    required: ["name", "age", "tags"],
  },
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    n: { type: "string", short: "n", default: "192" },
    temp: { type: "string", default: "0.8" },
    parallel: { type: "string", default: "1" },
    warmup: { type: "string", default: "1" },
    child: { type: "string" },
  },
});
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const threads = Number(values.threads), n = Number(values.n), temperature = Number(values.temp), parallel = Number(values.parallel);
const warmups = Number(values.warmup);

interface RoundResult {
  tokens: number;
  /** When each token of the measured run was drawn (ms, performance.now()), in draw order. */
  tokenTimes: number[];
  /** Each step's native forward (ms), in step order (one sequence: step i draws token i). */
  forwardMs: number[];
  samplingUsPerToken: number;
  masksComputed: number;
  cpuUsPerToken: number;
  replayedGrammarUs?: number;
}

/** Decode tokens/s over a run's first `m` tokens: from its first draw (after prefill; `parallel` draws in that
 *  step) to its m-th. */
function decodeRate(r: RoundResult, m: number): number {
  const first = Math.min(parallel, m) - 1;
  return ((m - 1 - first) / (r.tokenTimes[m - 1]! - r.tokenTimes[first]!)) * 1000;
}

/** One sequence: µs per token outside the native forward over the same tokens as decodeRate (what the sampler and
 *  grammar can change; the forward's own time swells most with the machine's load). */
function outsideForwardUs(r: RoundResult, m: number): number {
  let forward = 0;
  for (let i = 1; i < m; i++) forward += r.forwardMs[i]!;
  return ((r.tokenTimes[m - 1]! - r.tokenTimes[0]! - forward) * 1000) / (m - 1);
}

interface RecordedRun { seed: number; steps: { logits: Float32Array; token: number }[] }

async function child(mode: "free" | "schema"): Promise<RoundResult> {
  const { Engine } = await import("../core/index.ts");
  const { GrammarMatcher } = await import("../core/sampling/grammar/grammar.ts");
  const { Sampler } = await import("../core/sampling/sampler.ts");
  // Time spent drawing tokens (with the grammar's mask and checks) and advancing the grammar: once per token each.
  let samplingMs = 0;
  let tokenTimes: number[] = [];
  let forwardMs: number[] = [];
  // Runs recorded for the replay (untimed runs only: copying each logits row would weigh on the measured decode).
  const recorded: RecordedRun[] = [];
  let recording = false;
  const timed = <T extends object>(proto: T, name: keyof T, draws?: boolean) => {
    const original = proto[name] as (a: unknown) => unknown;
    (proto as Record<keyof T, unknown>)[name] = function (this: unknown, a: unknown) {
      const logits = recording && draws ? (a as Float32Array).slice() : undefined;
      const t0 = performance.now();
      let result: unknown;
      try {
        return (result = original.call(this, a));
      } finally {
        const t1 = performance.now();
        samplingMs += t1 - t0;
        if (draws) tokenTimes.push(t1);
        if (logits) recorded.at(-1)?.steps.push({ logits, token: result as number });
      }
    };
    return () => ((proto as Record<keyof T, unknown>)[name] = original);
  };
  const restore = [timed(Sampler.prototype, "sample", true), timed(GrammarMatcher.prototype, "accept")];
  const engine = await Engine.load({ model: file, threads });
  engine.onStep((step) => forwardMs.push(step.forwardMs));
  const prompt = "Once upon a time";
  const options = mode === "schema" ? { jsonSchema: SCHEMA } : { ignoreEos: true };
  const run = async (seed: number) => {
    const rs = await Promise.all(Array.from({ length: parallel }, (_, i) => engine.generate(prompt, { ...options, temperature, seed: seed + i, maxTokens: n })));
    return rs.reduce((a, r) => a + r.tokens.length, 0);
  };
  for (let w = 1; w <= warmups; w++) await run(w); // warm-up: the schema's masks, the engine's buffers, the JIT
  samplingMs = 0;
  tokenTimes = [];
  forwardMs = [];
  const masksBefore = mode === "schema" ? engine.grammar(jsonGbnf()).stats.masksComputed : 0;
  const cpu0 = process.cpuUsage();
  const tokens = await run(1000);
  const cpu = process.cpuUsage(cpu0);
  const measured = { tokenTimes, forwardMs, samplingMs };
  const masksComputed = mode === "schema" ? engine.grammar(jsonGbnf()).stats.masksComputed - masksBefore : 0;
  // The replay's runs, recorded only after the measured run and only when the schema child replays (one
  // sequence): the warm-ups and the measured run again (same seeds, same tokens). Recorded rows held in memory
  // during the measured run (tens of MB of typed arrays) slowed its forward up to 16x on a loaded 2-core machine
  // (stories15M, 3 warm-ups: median forward 16x the free run's in 4 of 4 rounds), V8's background GC threads
  // taking the cores the forward's thread pool waits on.
  if (mode === "schema" && parallel === 1) {
    for (const seed of [...Array.from({ length: warmups }, (_, w) => w + 1), 1000]) {
      recording = true;
      recorded.push({ seed, steps: [] });
      await run(seed);
      recording = false;
    }
  }
  const tok = engine.model.tokenizer;
  engine.close();
  for (const undo of restore) undo();
  const vocabulary = { vocabSize: tok.vocabSize, piece: (id: number, special: boolean) => tok.piece(id, special), isEndOfGeneration: (id: number) => tok.isEndOfGeneration(id) };
  const replayedGrammarUs = recorded.length > 0 ? await replayedGrammar(recorded, vocabulary) : undefined;
  return { tokens, tokenTimes: measured.tokenTimes, forwardMs: measured.forwardMs, samplingUsPerToken: (measured.samplingMs * 1000) / tokens, masksComputed, cpuUsPerToken: (cpu.user + cpu.system) / tokens, replayedGrammarUs };
}

/** CPU µs per token that the grammar adds to the measured run (the last), replayed on a fresh grammar after the
 *  warm-up runs as in the child; the replay must draw the tokens the run drew. */
async function replayedGrammar(runs: RecordedRun[], vocabulary: GrammarVocabulary): Promise<number> {
  const { Grammar, GrammarMatcher } = await import("../core/sampling/grammar/grammar.ts");
  const { Sampler } = await import("../core/sampling/sampler.ts");
  const scratch = new Float32Array(vocabulary.vocabSize);
  const cpuPerToken = (constrained: boolean): number => {
    const grammar = constrained ? new Grammar(jsonGbnf(), vocabulary) : undefined;
    let us = 0;
    runs.forEach((run, i) => {
      const sampler = new Sampler(vocabulary.vocabSize, { temperature, seed: run.seed });
      const matcher = grammar && new GrammarMatcher(grammar);
      let produced = 0;
      if (matcher) {
        // As Generation wires it (the token budget included).
        sampler.constraint = { mask: () => matcher.mask(n - produced), allows: (t) => matcher.allows(t, n - produced), memoizedMask: () => matcher.memoizedMask(n - produced) };
      }
      const cpu0 = process.cpuUsage();
      for (const step of run.steps) {
        scratch.set(step.logits);
        const token = sampler.sample(scratch);
        if (matcher) {
          if (token !== step.token) throw new Error(`the replay drew token ${token} where the run drew ${step.token}`);
          matcher.accept(token);
        }
        produced++;
      }
      const cpu = process.cpuUsage(cpu0);
      if (i === runs.length - 1) us = (cpu.user + cpu.system) / run.steps.length;
    });
    return us;
  };
  // Each side's least time of five (the least disturbed), not the least difference (which picks the noise).
  let schema = Infinity, free = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    schema = Math.min(schema, cpuPerToken(true));
    free = Math.min(free, cpuPerToken(false));
  }
  return schema - free;
}

let gbnf: string | undefined;
function jsonGbnf(): string {
  return gbnf!;
}

if (values.child) {
  const { jsonSchemaToGbnf } = await import("../core/sampling/grammar/json-schema.ts");
  gbnf = jsonSchemaToGbnf(SCHEMA);
  process.stdout.write(JSON.stringify(await child(values.child as "free" | "schema")));
} else {
  const self = fileURLToPath(import.meta.url);
  const once = (mode: string): RoundResult => JSON.parse(execFileSync(process.execPath, ["--import", "tsx", self, file, "--child", mode,
    "--threads", String(threads), "-n", String(n), "--temp", String(temperature), "--parallel", String(parallel), "--warmup", String(warmups)], { encoding: "utf8" })) as RoundResult;
  const free: RoundResult[] = [], schema: RoundResult[] = [];
  const freeRate: number[] = [], schemaRate: number[] = [];
  const freeOutside: number[] = [], schemaOutside: number[] = [], forwardRatio: number[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    free.push(once("free"));
    schema.push(once("schema"));
    const f = free[r]!, s = schema[r]!;
    const m = Math.min(f.tokens, s.tokens);
    freeRate.push(decodeRate(f, m));
    schemaRate.push(decodeRate(s, m));
    if (parallel === 1) {
      freeOutside.push(outsideForwardUs(f, m));
      schemaOutside.push(outsideForwardUs(s, m));
      const forwardMedian = (x: RoundResult) => median(x.forwardMs.slice(1, m));
      forwardRatio.push(forwardMedian(f) / forwardMedian(s));
    }
    console.error(`round ${r + 1}: over ${m} tokens: free ${fmt(freeRate[r]!)} t/s ${fmt(f.cpuUsPerToken)} cpu-µs/token (sampling ${fmt(f.samplingUsPerToken)} µs/token), schema ${fmt(schemaRate[r]!)} t/s ${fmt(s.cpuUsPerToken)} cpu-µs/token (${s.tokens} tokens, sampling + grammar ${fmt(s.samplingUsPerToken)} µs/token, ${s.masksComputed} masks computed${s.replayedGrammarUs === undefined ? "" : `, replayed grammar ${fmt(s.replayedGrammarUs)} cpu-µs/token`})`);
  }
  const grammarUs = schema.map((s, i) => s.samplingUsPerToken - free[i]!.samplingUsPerToken);
  const ratio = medianRatio(schemaRate, freeRate);
  console.log(`\n${file}  (threads ${threads}, temp ${temperature}, ${parallel} sequence${parallel > 1 ? "s" : ""}, n ${n}, ${warmups} warm-up run${warmups > 1 ? "s" : ""}, ${values.rounds} alternating rounds, medians)`);
  console.log(`  unconstrained   ${fmt(median(freeRate))} t/s   (${fmt(median(free.map((x) => x.tokens)))} tokens; rates over the schema run's tokens, ${fmt(median(schema.map((x) => x.tokens)))})`);
  console.log(`  JSON schema     ${fmt(median(schemaRate))} t/s   grammar ${fmt(median(grammarUs))} µs/token (sampling + grammar ${fmt(median(schema.map((x) => x.samplingUsPerToken)))} µs/token, unconstrained sampling ${fmt(median(free.map((x) => x.samplingUsPerToken)))})`);
  const replayed = schema.flatMap((s) => (s.replayedGrammarUs === undefined ? [] : [s.replayedGrammarUs]));
  if (replayed.length > 0) console.log(`  replayed grammar (CPU time, logits of each measured run replayed): ${fmt(median(replayed))} µs/token`);
  if (parallel === 1) {
    console.log(`  outside the forward (sampling, grammar, the engine's step): unconstrained ${fmt(median(freeOutside))} µs/token, JSON schema ${fmt(median(schemaOutside))} µs/token; median forward unconstrained / schema ${fmt(median(forwardRatio), 3)}x`);
  }
  console.log(`  ratio schema / unconstrained: ${fmt(ratio, 3)}x   by CPU time per token (steadier on a loaded machine): ${fmt(median(schema.map((s, i) => free[i]!.cpuUsPerToken / s.cpuUsPerToken)), 3)}x`);
}
