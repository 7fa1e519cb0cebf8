// node-llama-cpp (llama.cpp for Node, prebuilt) measured the same way as our bench: prefill of random tokens,
// then greedy decode. The TypeScript peer our numbers are shown beside.
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";

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
