import { GgufError, getNumber, getOptionalNumber, getString, type GgufFile } from "../gguf/index.ts";
import type { NativeModelConfig } from "../native.ts";
import { readFamily } from "./families.ts";

/**
 * How an architecture's experts are used, where it has them (llama.cpp's build_moe_ffn arguments for it): softmax
 * gating, top-k, and whether the k weights are renormalised to sum to one. `required`: every file has experts;
 * `ffKey`: the metadata key of an expert's hidden width (else feed_forward_length).
 */
interface ExpertTraits {
  normWeights: boolean;
  required: boolean;
  ffKey?: string;
  /** A shared expert in every layer (its width: expert_shared_feed_forward_length, else feed_forward_length). */
  shared?: boolean;
}

/** Architectures the native transformer runs, and how each differs from plain llama. */
const ARCHITECTURES: Record<string, { ropeNeox: boolean; qkNormFull?: boolean; experts?: ExpertTraits }> = {
  llama: { ropeNeox: false, experts: { normWeights: true, required: false } },  // Mixtral is a llama file with experts
  mistral: { ropeNeox: false },
  qwen2: { ropeNeox: true },
  qwen3: { ropeNeox: true },
  gemma2: { ropeNeox: true },
  gemma3: { ropeNeox: true },
  phi3: { ropeNeox: true },
  granite: { ropeNeox: false },
  qwen3moe: { ropeNeox: true, experts: { normWeights: true, required: true, ffKey: "expert_feed_forward_length" } },
  olmoe: { ropeNeox: true, qkNormFull: true, experts: { normWeights: false, required: true } },
  qwen2moe: { ropeNeox: true, experts: { normWeights: false, required: true, ffKey: "expert_feed_forward_length", shared: true } },
};

export const SUPPORTED_ARCHITECTURES = Object.keys(ARCHITECTURES);

export interface ModelHparams extends NativeModelConfig {
  architecture: string;
  contextLength: number;
}

/** Reads the hyperparameters of a llama-family model from GGUF metadata, with llama.cpp's defaults. */
export function readHparams(f: GgufFile): ModelHparams {
  const arch = getString(f, "general.architecture");
  const traits = ARCHITECTURES[arch];
  if (!traits) throw new GgufError(f.path, `architecture '${arch}' is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(", ")})`);
  const k = (name: string) => `${arch}.${name}`;
  const nEmbd = positive(f, k("embedding_length"));
  const nHead = positive(f, k("attention.head_count"));
  const nHeadKv = getOptionalNumber(f, k("attention.head_count_kv")) ?? nHead;
  const headDim = getOptionalNumber(f, k("attention.key_length")) ?? nEmbd / nHead;
  if (!Number.isInteger(headDim) || headDim < 1) throw new GgufError(f.path, `head dimension ${headDim} is not a whole number`);
  if (nHeadKv < 1 || nHead % nHeadKv !== 0) throw new GgufError(f.path, `${k("attention.head_count")} (${nHead}) must be a multiple of head_count_kv (${nHeadKv})`);
  const ropeDim = getOptionalNumber(f, k("rope.dimension_count")) ?? headDim;
  if (ropeDim < 0 || ropeDim > headDim || ropeDim % 2 !== 0) throw new GgufError(f.path, `${k("rope.dimension_count")} = ${ropeDim} does not fit the head dimension ${headDim}`);
  const scalingType = getString(f, k("rope.scaling.type"), undefined);
  const scalingFactor = getOptionalNumber(f, k("rope.scaling.factor")) ?? 1;
  // llama.cpp's default type is linear; LongRoPE's factors are tensors (rope_factors_long/short), its scaling linear.
  if (scalingType && scalingType !== "none" && scalingType !== "linear" && scalingType !== "longrope") {
    throw new GgufError(f.path, `rope scaling '${scalingType}' is not supported (none, linear, longrope)`);
  }
  const experts = readExperts(f, arch, traits.experts);
  const tokens = f.metadata.get("tokenizer.ggml.tokens");
  const nVocab = getOptionalNumber(f, k("vocab_size")) ?? (typeof tokens === "object" && "items" in tokens ? tokens.items.length : 0);
  if (nVocab < 1) throw new GgufError(f.path, "the vocabulary size is unknown (no tokenizer.ggml.tokens)");
  const nLayer = positive(f, k("block_count"));
  const contextLength = getOptionalNumber(f, k("context_length")) ?? 2048;
  const ropeBase = getOptionalNumber(f, k("rope.freq_base")) ?? 10000;
  const ropeFreqScale = scalingType !== "none" && scalingFactor > 0 ? Math.fround(1 / scalingFactor) : 1;
  return {
    architecture: arch,
    nVocab,
    nEmbd,
    nLayer,
    nHead,
    nHeadKv,
    headDim,
    nFf: positive(f, k("feed_forward_length")),
    ropeDim,
    ropeNeox: traits.ropeNeox,
    ropeBase,
    ropeFreqScale,
    rmsEps: getOptionalNumber(f, k("attention.layer_norm_rms_epsilon")) ?? 1e-5,
    contextLength,
    family: readFamily(f, arch, { nEmbd, nHead, nLayer, headDim, ropeBase, ropeFreqScale, contextLength }),
    ...(traits.qkNormFull ? { qkNormFull: true } : {}),
    ...experts,
  };
}

/** The expert hyperparameters of a mixture-of-experts file (none for a dense one). */
function readExperts(f: GgufFile, arch: string, traits: ExpertTraits | undefined): Partial<ModelHparams> {
  const nExpert = getOptionalNumber(f, `${arch}.expert_count`) ?? 0;
  if (nExpert === 0 && !traits?.required) return {};
  if (!traits) throw new GgufError(f.path, `${arch} files with experts are not supported`);
  if (!Number.isInteger(nExpert) || nExpert < 1) throw new GgufError(f.path, `${arch}.expert_count must be a positive integer, got ${nExpert}`);
  const nExpertUsed = positive(f, `${arch}.expert_used_count`);
  if (nExpertUsed > nExpert) throw new GgufError(f.path, `${arch}.expert_used_count (${nExpertUsed}) exceeds expert_count (${nExpert})`);
  const nFf = positive(f, `${arch}.feed_forward_length`);
  const nFfExp = traits.ffKey ? (getOptionalNumber(f, `${arch}.${traits.ffKey}`) ?? nFf / nExpertUsed) : nFf;
  if (!Number.isInteger(nFfExp) || nFfExp < 1) throw new GgufError(f.path, `expert feed-forward width ${nFfExp} is not a positive integer`);
  const nFfShared = traits.shared ? (getOptionalNumber(f, `${arch}.expert_shared_feed_forward_length`) ?? nFf) : undefined;
  if (nFfShared !== undefined && (!Number.isInteger(nFfShared) || nFfShared < 1)) throw new GgufError(f.path, `shared expert width ${nFfShared} is not a positive integer`);
  return { nExpert, nExpertUsed, nFfExp, expertWeightsNorm: traits.normWeights, ...(nFfShared ? { nFfShared } : {}) };
}

function positive(f: GgufFile, key: string): number {
  const v = getNumber(f, key);
  if (!Number.isInteger(v) || v < 1) throw new GgufError(f.path, `metadata '${key}' must be a positive integer, got ${v}`);
  return v;
}
