import type { Engine } from "./engine.ts";

export interface BenchmarkOptions {
  /** Prompt tokens for the prefill measurement (llama-bench's -p). */
  promptTokens: number;
  /** Generated tokens for the decode measurement (-n). */
  genTokens: number;
  /** Repetitions; the mean is reported, as llama-bench does. */
  repetitions: number;
  /** Concurrent sequence counts for aggregate decode throughput. */
  parallel: number[];
  /** Stops the benchmark: it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface BenchmarkResult {
  ppTokensPerS: number;
  tgTokensPerS: number;
  parallel: { n: number; tokensPerS: number }[];
}

/**
 * Prefill and decode speed like llama-bench (random tokens, EOS ignored), plus batched decode throughput. Prefills
 * are cold: the prefix cache is off while it runs (its token streams repeat from run to run, so a second benchmark
 * would otherwise time cache hits).
 */
export async function runBenchmark(engine: Engine, o: BenchmarkOptions): Promise<BenchmarkResult> {
  const vocab = engine.model.hparams.nVocab;
  let seed = 12345;
  const randomTokens = (n: number) =>
    Array.from({ length: n }, () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return 3 + (seed % (vocab - 3));
    });
  const greedy = { temperature: 0, ignoreEos: true, signal: o.signal };
  /** A generation of the benchmark; an abort ends the whole benchmark. */
  const run = async (tokens: number[], maxTokens: number) => {
    const r = await engine.generate(tokens, { ...greedy, maxTokens });
    o.signal?.throwIfAborted();
    return r;
  };
  const needed = Math.max(o.promptTokens, 1) + o.genTokens + 1;
  if (needed > engine.contextSize) {
    throw new RangeError(`the benchmark needs ${needed} positions per sequence (prompt + generated + 1) but the context holds ${engine.contextSize}`);
  }
  const saved = engine.batching;
  engine.configure({ maxBatchTokens: Math.max(saved.maxBatchTokens, o.promptTokens), maxSeqs: Math.max(saved.maxSeqs, ...o.parallel, 1), prefixCaching: false });
  try {
    // Warm-up as llama-bench does (one untimed run of the test): pages in the weights and sizes the step buffers
    // for a full prompt, which a cold first prefill would otherwise pay for (measured 5.8k vs 9.4k t/s on q8_0).
    await run(randomTokens(Math.max(o.promptTokens, 16)), 4);

    const pp: number[] = [], tg: number[] = [];
    for (let r = 0; r < o.repetitions; r++) {
      if (o.promptTokens > 0) pp.push((await run(randomTokens(o.promptTokens), 1)).stats.prefillTokensPerS);
      if (o.genTokens > 0) tg.push((await run(randomTokens(1), o.genTokens + 1)).stats.decodeTokensPerS);
    }

    const parallel: BenchmarkResult["parallel"] = [];
    for (const n of o.parallel) {
      const runs: number[] = [];
      // All n prompts prefill in one step, then every step decodes all n: the decode phase llama-batched-bench times.
      engine.configure({ maxSeqs: Math.max(saved.maxSeqs, n), maxBatchTokens: Math.min(Math.max(saved.maxBatchTokens, n * o.promptTokens, 1), 1 << 16), prefixCaching: false });
      for (let r = 0; r < o.repetitions; r++) {
        runs.push(await aggregateDecode(engine, n, () => randomTokens(o.promptTokens), o.genTokens, o.signal));
        o.signal?.throwIfAborted();
      }
      parallel.push({ n, tokensPerS: mean(runs) });
    }
    return { ppTokensPerS: mean(pp), tgTokensPerS: mean(tg), parallel };
  } finally {
    engine.configure(saved);
  }
}

/**
 * Aggregate decode tokens/s of n concurrent sequences: the tokens of the steps that only decode (after the last
 * step with prompt tokens in it), over the time from the end of that step to the end of the last one.
 */
async function aggregateDecode(engine: Engine, n: number, prompt: () => number[], genTokens: number, signal: AbortSignal | undefined): Promise<number> {
  let lastPrefillEnd = 0, end = 0, decoded = 0;
  const stop = engine.onStep((s) => {
    const t = performance.now();
    if (s.prefillTokens > 0) {
      lastPrefillEnd = t;
      decoded = 0;
    } else decoded += s.decodeTokens;
    end = t;
  });
  try {
    await Promise.all(Array.from({ length: n }, () => engine.generate(prompt(), { temperature: 0, ignoreEos: true, maxTokens: genTokens + 1, signal })));
  } finally {
    stop();
  }
  return end > lastPrefillEnd ? (decoded / (end - lastPrefillEnd)) * 1000 : 0;
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}
