import { GgmlType, GgufValueType, getArray, readGguf, writeGguf, type GgufArray, type TensorToWrite, type TypedValue, type GgufValue } from "../../core/gguf/index.ts";
import { nativeKernels } from "../../core/native-kernels.ts";
import { sharedModel } from "./paths.ts";
import { prng } from "../../scripts/prng.ts";

export interface SyntheticSpec {
  architecture: "llama" | "qwen2" | "qwen3" | "gemma2" | "gemma3" | "phi3" | "granite" | "qwen3moe" | "olmoe" | "qwen2moe";
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  /**
   * Mixture of experts in every layer: `count` experts of hidden width `ff`, `used` per token (qwen3moe and olmoe
   * files must have them; a llama file with them is Mixtral-style). llama and olmoe experts are nFf wide. qwen2moe
   * adds a shared expert `sharedFf` wide (default nFf).
   */
  experts?: { count: number; used: number; ff?: number; sharedFf?: number };
  /** Head dimension when it differs from nEmbd / nHead (qwen3 and gemma allow that). */
  headDim?: number;
  seed?: number;
  /** Rotated dimensions per head when fewer than the head size (rope.dimension_count; Phi-4-mini rotates 3/4). */
  ropeDim?: number;
  /** Separate output head (default: tied to token_embd). */
  untiedOutput?: boolean;
  ropeBase?: number;
  /** Training context length the file declares (default 256). */
  contextLength?: number;
  /** A GGUF whose tokenizer.* metadata (vocabulary) the model takes (default: stories260K's 512 tokens). */
  vocabFrom?: string;
  /** Vocabulary entries to rename (id -> text and token type), e.g. Qwen3's <think> in a Qwen2 vocabulary's padding. */
  renameTokens?: Map<number, { text: string; type: number }>;
  /** More metadata, e.g. a tokenizer.chat_template. */
  extraMetadata?: [string, GgufValue | TypedValue][];
  /**
   * Type of the layers' weight matrices (attention, FFN, experts), quantized row by row with the reference
   * quantizers (default F32). Norms, the expert router, the embedding and the output head stay F32.
   */
  weightType?: GgmlType;
  /** Rewrites a tensor's generated weights before it is written (dims as GGUF lists them: fastest first). */
  shapeTensor?: (name: string, dims: number[], data: Float32Array) => void;
}

export { prng };

/**
 * Writes a small llama-family model with random F32 weights. Its vocabulary is stories260K's (512 SentencePiece
 * tokens) unless `vocabFrom` names another file's (e.g. a ggml-vocab fixture), so llama.cpp loads it as an
 * ordinary model.
 */
export function writeSyntheticModel(path: string, spec: SyntheticSpec): void {
  const rand = prng(spec.seed ?? 1);
  const vocab = readGguf(spec.vocabFrom ?? sharedModel("stories260K.gguf"));
  const nVocab = getArray(vocab, "tokenizer.ggml.tokens")?.items.length;
  if (!nVocab) throw new Error(`${vocab.path} has no tokenizer.ggml.tokens`);
  const headDim = spec.headDim ?? spec.nEmbd / spec.nHead;
  const qDim = spec.nHead * headDim, kvDim = spec.nHeadKv * headDim;
  const arch = spec.architecture;
  if ((arch === "qwen3moe" || arch === "olmoe" || arch === "qwen2moe") && !spec.experts) throw new Error(`a synthetic ${arch} model needs experts`);
  const experts = spec.experts && { ...spec.experts, ff: spec.experts.ff ?? spec.nFf };

  const tensors: TensorToWrite[] = [];
  const f32 = (name: string, dims: number[], scale: number, offset = 0) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = offset + (rand() * 2 - 1) * scale;
    spec.shapeTensor?.(name, dims, data);
    const type = spec.weightType ?? GgmlType.F32;
    const quantize = type !== GgmlType.F32 && dims.length >= 2 && name.startsWith("blk.") && !name.includes("ffn_gate_inp");
    tensors.push({ name, dims, type: quantize ? type : GgmlType.F32, data: quantize ? quantizeRows(type, data, dims[0]!) : new Uint8Array(data.buffer) });
  };
  f32("token_embd.weight", [spec.nEmbd, nVocab], 1);
  f32("output_norm.weight", [spec.nEmbd], 0.2, 1);
  if (spec.untiedOutput) f32("output.weight", [spec.nEmbd, nVocab], 0.5);
  if (arch === "phi3") {  // LongRoPE's per-dimension frequency divisors
    f32("rope_factors_long.weight", [(spec.ropeDim ?? headDim) / 2], 4, 5);
    f32("rope_factors_short.weight", [(spec.ropeDim ?? headDim) / 2], 0.1, 1);
  }
  for (let l = 0; l < spec.nLayer; l++) {
    const p = `blk.${l}.`;
    const w = (fanIn: number) => 1 / Math.sqrt(fanIn);
    f32(p + "attn_norm.weight", [spec.nEmbd], 0.2, 1);
    if (arch === "phi3") {
      f32(p + "attn_qkv.weight", [spec.nEmbd, qDim + 2 * kvDim], w(spec.nEmbd));
    } else {
      f32(p + "attn_q.weight", [spec.nEmbd, qDim], w(spec.nEmbd));
      f32(p + "attn_k.weight", [spec.nEmbd, kvDim], w(spec.nEmbd));
      f32(p + "attn_v.weight", [spec.nEmbd, kvDim], w(spec.nEmbd));
    }
    if (arch === "qwen2" || arch === "qwen2moe") {
      f32(p + "attn_q.bias", [qDim], 0.5);
      f32(p + "attn_k.bias", [kvDim], 0.5);
      f32(p + "attn_v.bias", [kvDim], 0.5);
    }
    if (arch === "qwen3" || arch === "qwen3moe" || arch === "gemma3") {
      f32(p + "attn_q_norm.weight", [headDim], 0.2, 1);
      f32(p + "attn_k_norm.weight", [headDim], 0.2, 1);
    }
    if (arch === "olmoe") {  // its Q/K norms span the whole projection
      f32(p + "attn_q_norm.weight", [qDim], 0.2, 1);
      f32(p + "attn_k_norm.weight", [kvDim], 0.2, 1);
    }
    f32(p + "attn_output.weight", [qDim, spec.nEmbd], w(qDim));
    f32(p + "ffn_norm.weight", [spec.nEmbd], 0.2, 1);
    if (experts) {
      const { count, ff } = experts;
      f32(p + "ffn_gate_inp.weight", [spec.nEmbd, count], w(spec.nEmbd) * 4);  // spread router logits: distinct top-k
      f32(p + "ffn_gate_exps.weight", [spec.nEmbd, ff, count], w(spec.nEmbd));
      f32(p + "ffn_up_exps.weight", [spec.nEmbd, ff, count], w(spec.nEmbd));
      f32(p + "ffn_down_exps.weight", [ff, spec.nEmbd, count], w(ff));
      if (arch === "qwen2moe") {
        const sff = experts.sharedFf ?? spec.nFf;
        f32(p + "ffn_gate_inp_shexp.weight", [spec.nEmbd], w(spec.nEmbd) * 4);
        f32(p + "ffn_gate_shexp.weight", [spec.nEmbd, sff], w(spec.nEmbd));
        f32(p + "ffn_up_shexp.weight", [spec.nEmbd, sff], w(spec.nEmbd));
        f32(p + "ffn_down_shexp.weight", [sff, spec.nEmbd], w(sff));
      }
    } else if (arch === "phi3") {
      f32(p + "ffn_up.weight", [spec.nEmbd, 2 * spec.nFf], w(spec.nEmbd));  // gate rows, then up rows
      f32(p + "ffn_down.weight", [spec.nFf, spec.nEmbd], w(spec.nFf));
    } else {
      f32(p + "ffn_gate.weight", [spec.nEmbd, spec.nFf], w(spec.nEmbd));
      f32(p + "ffn_up.weight", [spec.nEmbd, spec.nFf], w(spec.nEmbd));
      f32(p + "ffn_down.weight", [spec.nFf, spec.nEmbd], w(spec.nFf));
    }
    if (arch === "gemma2" || arch === "gemma3") {
      f32(p + "post_attention_norm.weight", [spec.nEmbd], 0.2, 1);
      f32(p + "post_ffw_norm.weight", [spec.nEmbd], 0.2, 1);
    }
  }

  const u32 = (value: number): TypedValue => ({ type: GgufValueType.UINT32, value });
  const f32v = (value: number): TypedValue => ({ type: GgufValueType.FLOAT32, value });
  const metadata: [string, GgufValue | TypedValue][] = [
    ["general.architecture", arch],
    // Not the architecture's name: llama.cpp changes a vocabulary's token attributes by model name ("phi3").
    ["general.name", `synthetic model, ${spec.nLayer} layers`],
    [`${arch}.context_length`, u32(spec.contextLength ?? 256)],
    [`${arch}.embedding_length`, u32(spec.nEmbd)],
    [`${arch}.feed_forward_length`, u32(spec.nFf)],
    [`${arch}.block_count`, u32(spec.nLayer)],
    [`${arch}.attention.head_count`, u32(spec.nHead)],
    [`${arch}.attention.head_count_kv`, u32(spec.nHeadKv)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32v(1e-6)],
    [`${arch}.rope.freq_base`, f32v(spec.ropeBase ?? 10000)],
  ];
  if (spec.ropeDim) metadata.push([`${arch}.rope.dimension_count`, u32(spec.ropeDim)]);
  if (experts) {
    metadata.push([`${arch}.expert_count`, u32(experts.count)], [`${arch}.expert_used_count`, u32(experts.used)]);
    if (arch === "qwen3moe" || arch === "qwen2moe") metadata.push([`${arch}.expert_feed_forward_length`, u32(experts.ff)]);
    if (arch === "qwen2moe") metadata.push([`${arch}.expert_shared_feed_forward_length`, u32(experts.sharedFf ?? spec.nFf)]);
  }
  if (spec.headDim) {
    metadata.push([`${arch}.attention.key_length`, u32(headDim)], [`${arch}.attention.value_length`, u32(headDim)]);
  }
  const overridden = new Set((spec.extraMetadata ?? []).map(([k]) => k));
  for (const [k, v] of vocab.metadata) if (k.startsWith("tokenizer.") && !overridden.has(k)) metadata.push([k, renamed(k, v, spec.renameTokens)]);
  metadata.push(...(spec.extraMetadata ?? []));
  writeGguf(path, { metadata, tensors });
}

function quantizeRows(type: GgmlType, data: Float32Array, cols: number): Uint8Array {
  const rows = data.length / cols;
  let out: Uint8Array | undefined;
  for (let r = 0; r < rows; r++) {
    const q = nativeKernels.quantizeRow(type, data.subarray(r * cols, (r + 1) * cols));
    out ??= new Uint8Array(q.length * rows);
    out.set(q, r * q.length);
  }
  return out!;
}

/** The vocabulary's token texts and types with `renames` applied. */
function renamed(key: string, value: GgufValue, renames: SyntheticSpec["renameTokens"]): GgufValue {
  if (!renames || (key !== "tokenizer.ggml.tokens" && key !== "tokenizer.ggml.token_type")) return value;
  const array = value as GgufArray;
  const items = Array.from(array.items as ArrayLike<GgufValue>);
  for (const [id, t] of renames) items[id] = key === "tokenizer.ggml.tokens" ? t.text : t.type;
  return { itemType: array.itemType, items };
}

/**
 * A model that, greedy, follows a script: after token chain[i] its top token is chain[i + 1], whatever came
 * before. Its layers add nothing (zero attention and FFN output), each chain token's embedding is its own basis
 * direction, and the output head maps that direction to the next token. The tokens of `chain` but the last must be
 * distinct, and at most nEmbd of them.
 */
export function writeScriptedModel(path: string, spec: Omit<SyntheticSpec, "untiedOutput" | "shapeTensor">, chain: readonly number[]): void {
  const next = new Map<number, number>();
  for (let i = 0; i + 1 < chain.length; i++) {
    if (next.has(chain[i]!)) throw new Error(`scripted model: token ${chain[i]} appears twice in the chain`);
    next.set(chain[i]!, chain[i + 1]!);
  }
  if (next.size > spec.nEmbd) throw new Error(`scripted model: ${next.size} chain tokens need nEmbd >= ${next.size}`);
  const direction = new Map([...next.keys()].map((t, i) => [t, i]));
  writeSyntheticModel(path, {
    ...spec,
    untiedOutput: true,
    shapeTensor(name, dims, data) {
      if (name.endsWith("attn_output.weight") || name.endsWith("ffn_down.weight")) data.fill(0);
      if (name === "token_embd.weight") {
        for (const [t, d] of direction) {
          data.fill(0, t * dims[0]!, (t + 1) * dims[0]!);
          data[t * dims[0]! + d] = 1;
        }
      }
      if (name === "output.weight") {
        data.fill(0);
        for (const [t, d] of direction) data[next.get(t)! * dims[0]! + d] = 10;
      }
    },
  });
}
