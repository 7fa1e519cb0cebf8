import { getArray, GgmlType, GgufValueType, readGguf, writeGguf, type TensorToWrite, type TypedValue, type GgufValue } from "../../core/gguf/index.ts";
import { sharedModel } from "./paths.ts";

export interface SyntheticSpec {
  architecture: "llama" | "qwen2" | "qwen3";
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  /** Head dimension when it differs from nEmbd / nHead (qwen3 allows that). */
  headDim?: number;
  seed?: number;
  /** Separate output head (default: tied to token_embd). */
  untiedOutput?: boolean;
  ropeBase?: number;
  /** More metadata, e.g. a tokenizer.chat_template. */
  extraMetadata?: [string, GgufValue][];
  /** A GGUF whose tokenizer (tokenizer.* metadata) the model takes, instead of stories260K's. */
  vocabFrom?: string;
}

/** A seeded uniform PRNG (mulberry32), so synthetic weights are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes a small llama-family model with random F32 weights. Its vocabulary is stories260K's (512 SentencePiece
 * tokens) unless `vocabFrom` names another GGUF, so llama.cpp loads it as an ordinary model.
 */
export function writeSyntheticModel(path: string, spec: SyntheticSpec): void {
  const rand = prng(spec.seed ?? 1);
  const vocab = readGguf(spec.vocabFrom ?? sharedModel("stories260K.gguf"));
  const nVocab = getArray(vocab, "tokenizer.ggml.tokens")?.items.length ?? 512;
  const headDim = spec.headDim ?? spec.nEmbd / spec.nHead;
  const qDim = spec.nHead * headDim, kvDim = spec.nHeadKv * headDim;
  const arch = spec.architecture;

  const tensors: TensorToWrite[] = [];
  const f32 = (name: string, dims: number[], scale: number, offset = 0) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = offset + (rand() * 2 - 1) * scale;
    tensors.push({ name, dims, type: GgmlType.F32, data: new Uint8Array(data.buffer) });
  };
  f32("token_embd.weight", [spec.nEmbd, nVocab], 1);
  f32("output_norm.weight", [spec.nEmbd], 0.2, 1);
  if (spec.untiedOutput) f32("output.weight", [spec.nEmbd, nVocab], 0.5);
  for (let l = 0; l < spec.nLayer; l++) {
    const p = `blk.${l}.`;
    const w = (fanIn: number) => 1 / Math.sqrt(fanIn);
    f32(p + "attn_norm.weight", [spec.nEmbd], 0.2, 1);
    f32(p + "attn_q.weight", [spec.nEmbd, qDim], w(spec.nEmbd));
    f32(p + "attn_k.weight", [spec.nEmbd, kvDim], w(spec.nEmbd));
    f32(p + "attn_v.weight", [spec.nEmbd, kvDim], w(spec.nEmbd));
    if (arch === "qwen2") {
      f32(p + "attn_q.bias", [qDim], 0.5);
      f32(p + "attn_k.bias", [kvDim], 0.5);
      f32(p + "attn_v.bias", [kvDim], 0.5);
    }
    if (arch === "qwen3") {
      f32(p + "attn_q_norm.weight", [headDim], 0.2, 1);
      f32(p + "attn_k_norm.weight", [headDim], 0.2, 1);
    }
    f32(p + "attn_output.weight", [qDim, spec.nEmbd], w(qDim));
    f32(p + "ffn_norm.weight", [spec.nEmbd], 0.2, 1);
    f32(p + "ffn_gate.weight", [spec.nEmbd, spec.nFf], w(spec.nEmbd));
    f32(p + "ffn_up.weight", [spec.nEmbd, spec.nFf], w(spec.nEmbd));
    f32(p + "ffn_down.weight", [spec.nFf, spec.nEmbd], w(spec.nFf));
  }

  const u32 = (value: number): TypedValue => ({ type: GgufValueType.UINT32, value });
  const f32v = (value: number): TypedValue => ({ type: GgufValueType.FLOAT32, value });
  const metadata: [string, GgufValue | TypedValue][] = [
    ["general.architecture", arch],
    ["general.name", `synthetic-${arch}`],
    [`${arch}.context_length`, u32(256)],
    [`${arch}.embedding_length`, u32(spec.nEmbd)],
    [`${arch}.feed_forward_length`, u32(spec.nFf)],
    [`${arch}.block_count`, u32(spec.nLayer)],
    [`${arch}.attention.head_count`, u32(spec.nHead)],
    [`${arch}.attention.head_count_kv`, u32(spec.nHeadKv)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32v(1e-6)],
    [`${arch}.rope.freq_base`, f32v(spec.ropeBase ?? 10000)],
  ];
  if (spec.headDim) {
    metadata.push([`${arch}.attention.key_length`, u32(headDim)], [`${arch}.attention.value_length`, u32(headDim)]);
  }
  for (const [k, v] of vocab.metadata) if (k.startsWith("tokenizer.")) metadata.push([k, v]);
  metadata.push(...(spec.extraMetadata ?? []));
  writeGguf(path, { metadata, tensors });
}
