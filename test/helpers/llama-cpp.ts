import { getLlama, LlamaLogLevel, type Llama, type Token } from "node-llama-cpp";
import { sharedModel } from "./paths.ts";
import { greedyReferences } from "./reference.ts";

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

let referenceArithmetic: Promise<string | false> | undefined;

/**
 * Why node-llama-cpp cannot show bit-identity on this machine, or false when it can. infer-repl computes llama.cpp's
 * arithmetic of the reference machine kind (its AVX-512 zen4 build, whose outputs ../shared/reference stores) on every
 * CPU. node-llama-cpp loads the build that fits this CPU: on one without AVX-512 (an AVX2 EPYC, say) its float and
 * K-quant sums go in other orders, so its logits agree with ours within rounding but not bit for bit. Probed, not
 * guessed from CPU flags: its logits after a stored prompt, f32 and Q4_K_M, must equal the stored reference's.
 * Where they do not, bit-identity is checked against the stored reference (greedy-reference.test.ts, perplexity).
 */
export function oracleArithmeticDiffers(): Promise<string | false> {
  referenceArithmetic ??= (async () => {
    for (const file of ["stories15M-f32.gguf", "stories15M-q4_k_m.gguf"]) {
      const ref = greedyReferences().find((r) => r.model === file);
      if (!ref) return `no stored reference for ${file}`;
      const [row] = await llamaCppStepLogits(sharedModel(file), ref.promptTokens, []);
      if (ref.top10Logits.some(([id, v]) => row!.get(id) !== v))
        return `node-llama-cpp on this CPU does not compute the reference machine kind's arithmetic (its ${file} logits differ from ../shared/reference's)`;
    }
    return false;
  })();
  return referenceArithmetic;
}
