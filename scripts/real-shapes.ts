// Real-shape benchmark models: the tensor shapes, head sizes, GQA ratios, rope settings, tied embeddings, biases and
// vocabularies of released models (SmolLM2-135M, Qwen2.5-0.5B, Qwen3-0.6B, Llama-3.2-1B/3B, Gemma-3-1B, Phi-4-mini;
// the mixtures of experts Qwen3-30B-A3B and OLMoE-1B-7B), with seeded random
// weights of a trained model's scale, written by the project's own GGUF writer and quantizer. Speed and exactness do
// not depend on what the weights mean, so these stand in for the real files, which cannot be shipped.
// Files are made on demand into a cache folder (INFER_REPL_REAL_SHAPES, default ~/.cache/infer-repl/real-shapes) and
// never committed. A tensor's values depend only on the shape and the tensor's name, so a file with fewer layers
// holds exactly the first layers of the full one.
//   usage: npx tsx scripts/real-shapes.ts [--layers N] [shape ...] [format ...]    (default: every shape and format)
// prints each file's path, generating the missing ones.
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  GgmlType, GgufValueType, byteSize, readGguf, writeGguf,
  type GgufFile, type GgufValue, type GgufArray, type TensorInfo, type TensorToWrite, type TypedValue,
} from "../core/gguf/index.ts";
import { nativeKernels } from "../core/native-kernels.ts";
import { planTensorTypes, QUANT_FTYPES, type QuantFtype } from "../core/quantize/index.ts";
import { llamaTensorOrder } from "../core/quantize/mix.ts";
import { prng } from "./prng.ts";

/** Llama 3's long-context rope: per-dimension frequency factors stored as the rope_freqs tensor (no metadata). */
interface Llama3Rope { factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number }

export interface RealShape {
  /** The released model whose shape this is. */
  readonly name: string;
  readonly arch: "llama" | "qwen2" | "qwen3" | "qwen3moe" | "olmoe" | "gemma3" | "phi3";
  readonly nEmbd: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDim: number;
  readonly nFf: number;
  readonly nVocab: number;
  readonly contextLength: number;
  readonly ropeBase: number;
  readonly rmsEps: number;
  /** Vocabulary fixture in ../shared/fixtures/vocab (ggml-vocab-<vocab>.gguf). */
  readonly vocab: string;
  /** tokenizer.ggml.pre when the released model's differs from the fixture's. */
  readonly pre?: string;
  readonly llama3Rope?: Llama3Rope;
  /** A separate output head (the dense shapes above tie it to token_embd). */
  readonly untiedOutput?: boolean;
  /** Sliding-window layers (gemma3: five of every six), their window and RoPE base. */
  readonly slidingWindow?: { readonly size: number; readonly ropeBase: number };
  /**
   * The released vocabulary's size when the fixture standing in for it is smaller: the fixture's tokens, then
   * `<unused_N>` tokens (type UNUSED, never produced by tokenizing) up to this size, so the head has the real shape.
   */
  readonly padVocabTo?: number;
  /** Mixture of experts in every layer: `count` experts of hidden width `ff`, `used` per token. */
  readonly experts?: { readonly count: number; readonly used: number; readonly ff: number };
  /** Rotated dimensions per head when fewer than headDim (rope.dimension_count). */
  readonly ropeDim?: number;
  /** phi3's LongRoPE: rope_factors_long/short tensors, the original context and the attention factor. */
  readonly longRope?: { readonly originalContext: number; readonly attnFactor: number };
}

const LLAMA_3_2_ROPE: Llama3Rope = { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 };

/** The released models' config.json values. All five tie the output head to token_embd. */
export const REAL_SHAPES = {
  // SmolLM2's own 49152-token BPE vocabulary is not among the fixtures; starcoder's has the same size and the same
  // pre-tokenizer regex (llama.cpp's "smollm" is starcoder's regex without space cleaning), so it stands in.
  "smollm2-135m": { name: "SmolLM2-135M", arch: "llama", nEmbd: 576, nLayer: 30, nHead: 9, nHeadKv: 3, headDim: 64, nFf: 1536,
    nVocab: 49152, contextLength: 8192, ropeBase: 100000, rmsEps: 1e-5, vocab: "starcoder", pre: "smollm" },
  "qwen2.5-0.5b": { name: "Qwen2.5-0.5B", arch: "qwen2", nEmbd: 896, nLayer: 24, nHead: 14, nHeadKv: 2, headDim: 64, nFf: 4864,
    nVocab: 151936, contextLength: 32768, ropeBase: 1000000, rmsEps: 1e-6, vocab: "qwen2" },
  "qwen3-0.6b": { name: "Qwen3-0.6B", arch: "qwen3", nEmbd: 1024, nLayer: 28, nHead: 16, nHeadKv: 8, headDim: 128, nFf: 3072,
    nVocab: 151936, contextLength: 40960, ropeBase: 1000000, rmsEps: 1e-6, vocab: "qwen2" },
  "llama-3.2-1b": { name: "Llama-3.2-1B", arch: "llama", nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, headDim: 64, nFf: 8192,
    nVocab: 128256, contextLength: 131072, ropeBase: 500000, rmsEps: 1e-5, vocab: "llama-bpe", llama3Rope: LLAMA_3_2_ROPE },
  "llama-3.2-3b": { name: "Llama-3.2-3B", arch: "llama", nEmbd: 3072, nLayer: 28, nHead: 24, nHeadKv: 8, headDim: 128, nFf: 8192,
    nVocab: 128256, contextLength: 131072, ropeBase: 500000, rmsEps: 1e-5, vocab: "llama-bpe", llama3Rope: LLAMA_3_2_ROPE },
  // Mixtures of experts. Their files come as F32 or Q8_0 (every quantizable tensor; the K mixes of expert models
  // are llama-quantize's: requantize the Q8_0 file with it). OLMoE's GPT-NeoX vocabulary (50304 entries) stands in
  // as MPT's, the same tokenizer padded to 50432.
  // Gemma 3's 262144-token SentencePiece vocabulary is not among the fixtures: llama-spm's 32000 tokens padded with
  // unused ones stand in for it (the head, 302M of the model's 1B parameters, keeps its real shape).
  "gemma-3-1b": { name: "Gemma-3-1B", arch: "gemma3", nEmbd: 1152, nLayer: 26, nHead: 4, nHeadKv: 1, headDim: 256, nFf: 6912,
    nVocab: 262144, contextLength: 32768, ropeBase: 1000000, rmsEps: 1e-6, vocab: "llama-spm", padVocabTo: 262144,
    slidingWindow: { size: 512, ropeBase: 10000 } },
  // Phi-4-mini (3.8B): fused QKV and gate|up, 3/4 of each head rotated, LongRoPE (attention factor as
  // convert_hf_to_gguf.py computes it: sqrt(1 + ln(131072 / 4096) / ln(4096))). Its 200064-token o200k vocabulary
  // is not among the fixtures: llama-bpe's 128256 tokens padded with unused ones stand in (the head keeps its shape).
  "phi-4-mini": { name: "Phi-4-mini", arch: "phi3", nEmbd: 3072, nLayer: 32, nHead: 24, nHeadKv: 8, headDim: 128, nFf: 8192,
    nVocab: 200064, contextLength: 131072, ropeBase: 10000, rmsEps: 1e-5, vocab: "llama-bpe", padVocabTo: 200064, ropeDim: 96,
    longRope: { originalContext: 4096, attnFactor: Math.sqrt(1 + Math.log(131072 / 4096) / Math.log(4096)) } },
  "qwen3-30b-a3b": { name: "Qwen3-30B-A3B", arch: "qwen3moe", nEmbd: 2048, nLayer: 48, nHead: 32, nHeadKv: 4, headDim: 128, nFf: 6144,
    nVocab: 151936, contextLength: 40960, ropeBase: 1000000, rmsEps: 1e-6, vocab: "qwen2", untiedOutput: true,
    experts: { count: 128, used: 8, ff: 768 } },
  "olmoe-1b-7b": { name: "OLMoE-1B-7B-0924", arch: "olmoe", nEmbd: 2048, nLayer: 16, nHead: 16, nHeadKv: 16, headDim: 128, nFf: 1024,
    nVocab: 50432, contextLength: 4096, ropeBase: 10000, rmsEps: 1e-5, vocab: "mpt", untiedOutput: true,
    experts: { count: 64, used: 8, ff: 1024 } },
} as const satisfies Record<string, RealShape>;
export type RealShapeId = keyof typeof REAL_SHAPES;
/** The dense shapes: every format, the scripts' default set. */
export const REAL_SHAPE_IDS = (Object.keys(REAL_SHAPES) as RealShapeId[]).filter((id) => !("experts" in REAL_SHAPES[id]));
/** The mixtures of experts (F32 and Q8_0 files; bench/moe.ts requantizes them with llama-quantize). */
export const EXPERT_SHAPE_IDS = (Object.keys(REAL_SHAPES) as RealShapeId[]).filter((id) => "experts" in REAL_SHAPES[id]);

/** The benchmarked formats; F32 is there to check the quantized files against llama-quantize's from the same source. */
export const REAL_SHAPE_FORMATS = ["Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16", "BF16"] as const;
export type RealShapeFormat = (typeof REAL_SHAPE_FORMATS)[number] | "F32";

/** Bumped whenever the generated bytes change, so stale cached files are not reused. */
const GENERATOR_VERSION = 1;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const vocabDir = path.resolve(repoRoot, "../shared/fixtures/vocab");

export function realShapesDir(): string {
  const base = process.env.INFER_REPL_REAL_SHAPES ?? path.join(os.homedir(), ".cache/infer-repl/real-shapes");
  return path.join(base, `v${GENERATOR_VERSION}`);
}

export interface RealShapeOptions {
  /** Only the first `layers` layers (CI-sized files); default all. */
  layers?: number;
}

/** Where a real-shape file lives (whether or not it exists yet). */
export function realShapePath(id: RealShapeId, format: RealShapeFormat, opts: RealShapeOptions = {}): string {
  const layers = opts.layers ?? REAL_SHAPES[id].nLayer;
  const suffix = layers === REAL_SHAPES[id].nLayer ? "" : `-${layers}L`;
  return path.join(realShapesDir(), `${id}${suffix}-${format.toLowerCase()}.gguf`);
}

/** The path of a real-shape file, writing it first when the cache does not have it. */
export function realShapeModel(id: RealShapeId, format: RealShapeFormat, opts: RealShapeOptions = {}): string {
  const file = realShapePath(id, format, opts);
  if (existsSync(file)) return file;
  mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  try {
    writeShapeModel(partial, id, REAL_SHAPES[id], format, opts.layers ?? REAL_SHAPES[id].nLayer);
    renameSync(partial, file);
  } finally {
    rmSync(partial, { force: true });
  }
  return file;
}

/** A tensor, and how its values are drawn: `fill(rand)` returns a function writing the next values into its argument. */
interface TensorPlan { name: string; dims: number[]; fill: (rand: () => number) => (x: Float32Array) => void }

/** Every tensor of the shape, with how its values are drawn. */
function tensorsOf(shape: RealShape, layers: number): TensorPlan[] {
  const { nEmbd, nFf, nVocab, headDim } = shape;
  const qDim = shape.nHead * headDim, kvDim = shape.nHeadKv * headDim;
  const weight = (name: string, dims: number[]): TensorPlan => ({ name, dims, fill: (rand) => gaussian(rand, 0, 0.02) });
  const norm = (name: string, dims: number[]): TensorPlan => ({ name, dims, fill: (rand) => gaussian(rand, 1, 0.05) });
  const bias = (name: string, dims: number[]): TensorPlan => ({ name, dims, fill: (rand) => gaussian(rand, 0, 0.1) });
  const out: TensorPlan[] = [weight("token_embd.weight", [nEmbd, nVocab]), norm("output_norm.weight", [nEmbd])];
  if (shape.untiedOutput) out.push(weight("output.weight", [nEmbd, nVocab]));
  if (shape.llama3Rope) {
    const factors = llama3RopeFactors(shape.ropeBase, headDim, shape.llama3Rope);
    out.push({ name: "rope_freqs.weight", dims: [headDim / 2], fill: () => (x) => x.set(factors) });
  }
  if (shape.longRope) {
    // Frequency divisors: the short ones ~1, the long ones growing from 1 to ~40 over the dimensions (as trained).
    const half = (shape.ropeDim ?? headDim) / 2;
    out.push({ name: "rope_factors_long.weight", dims: [half], fill: () => (x) => x.set(Float32Array.from({ length: half }, (_, i) => 1 + 39 * (i / (half - 1)) ** 2)) });
    out.push({ name: "rope_factors_short.weight", dims: [half], fill: () => (x) => x.set(Float32Array.from({ length: half }, (_, i) => 1 + 0.05 * (i / (half - 1)))) });
  }
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    out.push(norm(p + "attn_norm.weight", [nEmbd]));
    if (shape.arch === "phi3") out.push(weight(p + "attn_qkv.weight", [nEmbd, qDim + 2 * kvDim]));
    else out.push(weight(p + "attn_q.weight", [nEmbd, qDim]), weight(p + "attn_k.weight", [nEmbd, kvDim]), weight(p + "attn_v.weight", [nEmbd, kvDim]));
    if (shape.arch === "qwen2") out.push(bias(p + "attn_q.bias", [qDim]), bias(p + "attn_k.bias", [kvDim]), bias(p + "attn_v.bias", [kvDim]));
    if (shape.arch === "qwen3" || shape.arch === "qwen3moe" || shape.arch === "gemma3") out.push(norm(p + "attn_q_norm.weight", [headDim]), norm(p + "attn_k_norm.weight", [headDim]));
    if (shape.arch === "gemma3") out.push(norm(p + "post_attention_norm.weight", [nEmbd]), norm(p + "post_ffw_norm.weight", [nEmbd]));
    if (shape.arch === "olmoe") out.push(norm(p + "attn_q_norm.weight", [qDim]), norm(p + "attn_k_norm.weight", [kvDim]));
    out.push(weight(p + "attn_output.weight", [qDim, nEmbd]));
    out.push(norm(p + "ffn_norm.weight", [nEmbd]));
    const e = shape.experts;
    if (e) {
      // Router weights of a trained model's spread (std ~0.1): distinct top-k choices, uneven expert loads.
      out.push({ name: p + "ffn_gate_inp.weight", dims: [nEmbd, e.count], fill: (rand) => gaussian(rand, 0, 0.1) });
      out.push(weight(p + "ffn_gate_exps.weight", [nEmbd, e.ff, e.count]), weight(p + "ffn_up_exps.weight", [nEmbd, e.ff, e.count]),
        weight(p + "ffn_down_exps.weight", [e.ff, nEmbd, e.count]));
    } else if (shape.arch === "phi3") {
      out.push(weight(p + "ffn_up.weight", [nEmbd, 2 * nFf]), weight(p + "ffn_down.weight", [nFf, nEmbd]));  // gate rows, then up rows
    } else {
      out.push(weight(p + "ffn_gate.weight", [nEmbd, nFf]), weight(p + "ffn_up.weight", [nEmbd, nFf]), weight(p + "ffn_down.weight", [nFf, nEmbd]));
    }
  }
  return out;
}

/** What convert_hf_to_gguf.py writes as rope_freqs for rope_type "llama3" (conversion/llama.py), in float32. */
export function llama3RopeFactors(base: number, dim: number, r: Llama3Rope): Float32Array {
  const lowFreqWavelen = r.originalContext / r.lowFreqFactor, highFreqWavelen = r.originalContext / r.highFreqFactor;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / dim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highFreqWavelen) out[i] = 1;
    else if (wavelen > lowFreqWavelen) out[i] = r.factor;
    else {
      const smooth = (r.originalContext / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / r.factor + smooth);
    }
  }
  return out;
}

/**
 * Writes `shape` (a real one, or a variant of one for experiments) with `layers` layers in `format`; `seedKey`
 * names the weights (tensor values depend on it and the tensor's name only).
 */
export function writeShapeModel(file: string, seedKey: string, shape: RealShape, format: RealShapeFormat, layers: number): void {
  if (!Number.isInteger(layers) || layers < 1 || layers > shape.nLayer) throw new Error(`real-shapes: ${shape.name} has 1..${shape.nLayer} layers, not ${layers}`);
  const metadata = metadataOf(shape, layers);
  const plans = tensorsOf(shape, layers);
  const infos: TensorInfo[] = plans.map((p) => {
    const nElements = p.dims.reduce((a, b) => a * b, 1);
    return { name: p.name, dims: p.dims, type: GgmlType.F32, offset: 0, nElements, nBytes: nElements * 4 };
  });
  const types = format === "F32" ? new Map(infos.map((t) => [t.name, GgmlType.F32]))
    : shape.experts ? expertModelTypes(shape, infos, format)
    : planTensorTypes(asGgufFile(file, metadata, infos), format);
  const byName = new Map(plans.map((p) => [p.name, p]));
  const tensors: TensorToWrite[] = llamaTensorOrder(infos).map((t) => {
    const plan = byName.get(t.name)!, type = types.get(t.name)!;
    return { name: t.name, dims: t.dims, type, data: { byteLength: byteSize(type, t.nElements), chunks: () => tensorChunks(seedKey, plan, type) } };
  });
  const ftype = format === "F32" ? 0 : QUANT_FTYPES[format as QuantFtype].ftype;
  const u32 = (value: number): TypedValue => ({ type: GgufValueType.UINT32, value });
  const extra: [string, TypedValue][] = [["general.file_type", u32(ftype)]];
  if (format !== "F32" && format !== "F16" && format !== "BF16") extra.push(["general.quantization_version", u32(2)]);
  writeGguf(file, { metadata: [...metadata, ...extra], tensors });
}

/** Q8_0 for every tensor llama-quantize quantizes (2-D+ weights but the expert router), F32 for the rest. */
function expertModelTypes(shape: RealShape, infos: TensorInfo[], format: RealShapeFormat): Map<string, GgmlType> {
  if (format !== "Q8_0") throw new Error(`real-shapes: ${shape.name} is written as F32 or Q8_0 (requantize with llama-quantize for ${format})`);
  return new Map(infos.map((t) => [t.name, t.dims.length >= 2 && !t.name.endsWith("ffn_gate_inp.weight") ? GgmlType.Q8_0 : GgmlType.F32]));
}

/** A tensor's bytes in `type`, ~1M values at a time, drawn from a generator seeded by the shape and the tensor's name. */
function* tensorChunks(seedKey: string, plan: TensorPlan, type: GgmlType): Generator<Uint8Array> {
  const rand = prng(hashString(`${seedKey}/${plan.name}`));
  const fill = plan.fill(rand);
  const cols = plan.dims[0]!, rows = plan.dims.slice(1).reduce((a, b) => a * b, 1);
  const rowsPerChunk = Math.max(1, Math.floor((1 << 20) / cols));
  for (let r = 0; r < rows; r += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - r) * cols;
    const x = new Float32Array(n);
    fill(x);
    yield type === GgmlType.F32 ? new Uint8Array(x.buffer) : nativeKernels.quantizeRow(type, x);
  }
}

function metadataOf(shape: RealShape, layers: number): [string, GgufValue | TypedValue][] {
  const a = shape.arch;
  const u32 = (value: number): TypedValue => ({ type: GgufValueType.UINT32, value });
  const f32 = (value: number): TypedValue => ({ type: GgufValueType.FLOAT32, value });
  const vocabFile = path.join(vocabDir, `ggml-vocab-${shape.vocab}.gguf`);
  if (!existsSync(vocabFile)) throw new Error(`real-shapes: vocabulary ${vocabFile} not found (../shared beside the repo)`);
  const vocab = readGguf(vocabFile);
  const tokens = vocab.metadata.get("tokenizer.ggml.tokens") as { items: ArrayLike<unknown> } | undefined;
  const fixtureSize = tokens?.items.length ?? 0;
  if ((shape.padVocabTo ?? fixtureSize) !== shape.nVocab || fixtureSize > shape.nVocab) throw new Error(`real-shapes: ${vocabFile} has ${fixtureSize} tokens, ${shape.name} ${shape.nVocab}`);
  const md: [string, GgufValue | TypedValue][] = [
    ["general.architecture", a],
    ["general.name", `${shape.name} shape, random weights${layers === shape.nLayer ? "" : `, ${layers} layers`}`],
    [`${a}.block_count`, u32(layers)],
    [`${a}.context_length`, u32(shape.contextLength)],
    [`${a}.embedding_length`, u32(shape.nEmbd)],
    [`${a}.feed_forward_length`, u32(shape.nFf)],
    [`${a}.attention.head_count`, u32(shape.nHead)],
    [`${a}.attention.head_count_kv`, u32(shape.nHeadKv)],
    [`${a}.attention.key_length`, u32(shape.headDim)],
    [`${a}.attention.value_length`, u32(shape.headDim)],
    [`${a}.rope.freq_base`, f32(shape.ropeBase)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(shape.rmsEps)],
  ];
  if (a === "llama") md.push([`${a}.vocab_size`, u32(shape.nVocab)], [`${a}.rope.dimension_count`, u32(shape.headDim)]);
  if (shape.ropeDim) md.push([`${a}.rope.dimension_count`, u32(shape.ropeDim)]);
  if (shape.longRope) {
    md.push([`${a}.rope.scaling.original_context_length`, u32(shape.longRope.originalContext)], [`${a}.rope.scaling.attn_factor`, f32(shape.longRope.attnFactor)]);
  }
  if (shape.slidingWindow) md.push([`${a}.attention.sliding_window`, u32(shape.slidingWindow.size)], [`${a}.rope.freq_base_swa`, f32(shape.slidingWindow.ropeBase)]);
  if (shape.experts) {
    md.push([`${a}.expert_count`, u32(shape.experts.count)], [`${a}.expert_used_count`, u32(shape.experts.used)]);
    if (a === "qwen3moe") md.push([`${a}.expert_feed_forward_length`, u32(shape.experts.ff)]);
    else if (shape.experts.ff !== shape.nFf) throw new Error(`real-shapes: ${shape.name}'s experts must be nFf wide`);
  }
  for (const [k, v] of vocab.metadata) {
    if (!k.startsWith("tokenizer.")) continue;
    md.push([k, k === "tokenizer.ggml.pre" && shape.pre ? shape.pre : { type: vocab.metadataTypes.get(k)!, value: padded(k, v, fixtureSize, shape.nVocab) }]);
  }
  return md;
}

/** A per-token tokenizer array extended to n tokens with unused ones (RealShape.padVocabTo); other keys as they are. */
function padded(key: string, value: GgufValue, from: number, n: number): GgufValue {
  if (from === n || (key !== "tokenizer.ggml.tokens" && key !== "tokenizer.ggml.scores" && key !== "tokenizer.ggml.token_type")) return value;
  const array = value as GgufArray;
  const items = Array.from(array.items as ArrayLike<GgufValue>);
  for (let i = from; i < n; i++) items.push(key === "tokenizer.ggml.tokens" ? `<unused_${i}>` : key === "tokenizer.ggml.scores" ? 0 : 5);
  return { itemType: array.itemType, items };
}

/** Just enough of a parsed file for planTensorTypes (which reads the metadata and the tensor list). */
function asGgufFile(file: string, metadata: [string, GgufValue | TypedValue][], tensors: TensorInfo[]): GgufFile {
  const plain = (v: GgufValue | TypedValue): GgufValue => (typeof v === "object" && v !== null && "value" in v && "type" in v ? v.value : (v as GgufValue));
  return {
    path: file, version: 3, metadata: new Map(metadata.map(([k, v]) => [k, plain(v)])), metadataTypes: new Map(),
    tensors, alignment: 32, dataOffset: 0, fileSize: 0,
  };
}

/** Normal(mean, std) values, drawn in pairs (Box-Muller): every row length here is even. */
function gaussian(rand: () => number, mean: number, std: number): (x: Float32Array) => void {
  return (x) => {
    for (let i = 0; i + 1 < x.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - rand())) * std, t = 2 * Math.PI * rand();
      x[i] = mean + r * Math.cos(t);
      x[i + 1] = mean + r * Math.sin(t);
    }
  };
}

/** FNV-1a. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { layers: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(`usage: npx tsx scripts/real-shapes.ts [--layers N] [shape ...] [format ...]   (default: every shape and format)
  shapes:  ${REAL_SHAPE_IDS.join(", ")}; mixtures of experts (F32, Q8_0 only): ${EXPERT_SHAPE_IDS.join(", ")}
  formats: ${REAL_SHAPE_FORMATS.join(", ")}, F32
prints each file's path (cache: ${realShapesDir()}), generating the missing ones`);
    process.exit(0);
  }
  const ids = positionals.filter((p): p is RealShapeId => p in REAL_SHAPES);
  const formats = positionals.filter((p) => !(p in REAL_SHAPES)).map((p) => p.toUpperCase());
  for (const f of formats) {
    if (f !== "F32" && !(REAL_SHAPE_FORMATS as readonly string[]).includes(f)) {
      console.error(`real-shapes: unknown shape or format '${f}' (shapes: ${REAL_SHAPE_IDS.join(", ")}; formats: ${REAL_SHAPE_FORMATS.join(", ")}, F32)`);
      process.exit(2);
    }
  }
  const layers = values.layers === undefined ? undefined : Number(values.layers);
  for (const id of ids.length ? ids : REAL_SHAPE_IDS) {
    for (const format of (formats.length ? formats : REAL_SHAPE_FORMATS) as RealShapeFormat[]) {
      const t0 = performance.now();
      const file = realShapeModel(id, format, { layers });
      console.log(`${file}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
}
