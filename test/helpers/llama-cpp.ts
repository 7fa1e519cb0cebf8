import { getLlama, LlamaLogLevel, type Llama, type Token } from "node-llama-cpp";

let llama: Promise<Llama> | undefined;

/** node-llama-cpp's llama.cpp on the CPU, loaded once per test process. */
export function llamaCpp(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  return llama;
}

/** llama.cpp's raw logits after every position of `tokens` (flash attention on, as in the shared reference). */
export async function llamaCppLogits(modelPath: string, tokens: number[]): Promise<ReadonlyMap<number, number>[]> {
  const model = await (await llamaCpp()).loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 256, flashAttention: true, threads: 2 });
  try {
    const out = await context.getSequence().controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { logits: true } }]));
    return out.map((o, i) => {
      const logits = o?.next.logits;
      if (!logits) throw new Error(`node-llama-cpp returned no logits at position ${i}`);
      return logits;
    });
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/**
 * llama.cpp's raw logits the way a generation sees them: after `prompt` as one batch (only its last row
 * wanted), then after each token of `continuation` fed alone. Flash attention on, as in the shared reference.
 * `batchSize` is its n_batch = n_ubatch (default: 512, llama.cpp's, or the context size when smaller): 1 feeds the
 * prompt one token at a time.
 */
export async function llamaCppStepLogits(
  modelPath: string, prompt: number[], continuation: number[],
  options: { contextSize?: number; threads?: number; swaFullCache?: boolean; batchSize?: number } = {},
): Promise<ReadonlyMap<number, number>[]> {
  const model = await (await llamaCpp()).loadModel({ modelPath });
  const contextSize = options.contextSize ?? 256;
  const context = await model.createContext({
    contextSize, batchSize: options.batchSize ?? Math.min(512, contextSize), flashAttention: true,
    threads: options.threads ?? 2, swaFullCache: options.swaFullCache ?? false,
  });
  const want = { generateNext: { logits: true } } as const;
  const logitsOf = (o: { next: { logits?: ReadonlyMap<number, number> } } | undefined) => {
    if (!o?.next.logits) throw new Error("node-llama-cpp returned no logits");
    return o.next.logits;
  };
  try {
    const sequence = context.getSequence();
    const first = await sequence.controlledEvaluate(prompt.map((t, i) => (i === prompt.length - 1 ? [t as Token, want] : (t as Token))));
    const rows = [logitsOf(first[prompt.length - 1])];
    for (const t of continuation) rows.push(logitsOf((await sequence.controlledEvaluate([[t as Token, want]]))[0]));
    return rows;
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/**
 * Largest |ours - llama.cpp| over a row of logits, relative to the row's largest |logit|. Logits are
 * compared at the scale that decides sampling: a per-element ratio blows up on logits near zero.
 */
export function rowRelativeError(actual: Float32Array, expected: ReadonlyMap<number, number>): number {
  let worst = 0, scale = 0;
  for (const [id, want] of expected) {
    worst = Math.max(worst, Math.abs(actual[id]! - want));
    scale = Math.max(scale, Math.abs(want));
  }
  return worst / Math.max(scale, 1e-6);
}
