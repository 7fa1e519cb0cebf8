// node-llama-cpp (llama.cpp for Node, prebuilt) measured the same way as our bench: prefill of random tokens,
// then greedy decode. The TypeScript peer our numbers are shown beside.
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { logSoftmaxAt } from "../core/perplexity.ts";

export async function nodeLlamaCppBench(file: string, threads: number, pp: number, tg: number): Promise<{ pp: number; tg: number }> {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file });
  try {
    const tokens = Array.from({ length: pp }, (_, i) => (3 + ((i * 7919) % (model.tokens.bos === null ? 1000 : 30000))) as Token);
    const ctx = await model.createContext({ contextSize: pp + tg + 16, threads, batchSize: Math.max(512, pp) });
    const seq = ctx.getSequence();
    let t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(tokens);
    const ppRate = (pp / (performance.now() - t0)) * 1000;
    await seq.clearHistory();
    let n = 0;
    t0 = performance.now();
    for await (const _ of seq.evaluate([1 as Token], { temperature: 0 })) if (++n >= tg) break;
    const tgRate = (n / (performance.now() - t0)) * 1000;
    await ctx.dispose();
    return { pp: ppRate, tg: tgRate };
  } finally {
    await model.dispose();
  }
}

/**
 * Perplexity by llama.cpp's method (chunks of `ctx` tokens, BOS first, the second half scored) through
 * node-llama-cpp's prebuilt library, one token per evaluation: llama.cpp's single-row arithmetic, the one our
 * kernels reproduce bit for bit (batch rows included).
 */
export async function nodeLlamaCppPerplexity(file: string, text: string, ctx: number, threads: number): Promise<number> {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file });
  try {
    const bos = model.tokens.bos;
    if (bos === null) throw new Error(`${file} has no BOS token`);
    const tokens = [bos, ...model.tokenize(text)];
    const context = await model.createContext({ contextSize: ctx, threads, flashAttention: true });
    const seq = context.getSequence();
    const want = { generateNext: { logits: true } } as const;
    let nll = 0, count = 0;
    for (let c = 0; c < Math.floor(tokens.length / ctx); c++) {
      await seq.clearHistory();
      const chunk = tokens.slice(c * ctx, (c + 1) * ctx);
      chunk[0] = bos;
      for (let j = 0; j < ctx - 1; j++) {
        const [out] = await seq.controlledEvaluate([[chunk[j]!, want]]);
        if (j < ctx / 2) continue;
        const logits = out?.next.logits;
        if (!logits) throw new Error("node-llama-cpp returned no logits");
        const row = new Float32Array(logits.size);
        for (const [id, v] of logits) row[id] = v;
        nll -= logSoftmaxAt(row, chunk[j + 1]!);
        count++;
      }
    }
    await context.dispose();
    return Math.exp(nll / count);
  } finally {
    await model.dispose();
  }
}
