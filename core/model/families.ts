import { GgufError, getArray, getNumber, getOptionalNumber, type GgufFile } from "../gguf/index.ts";
import type { NativeFamilyConfig } from "../native.ts";

/**
 * The particulars of the model families beyond llama (gemma2, gemma3, phi3, granite), read from GGUF metadata with
 * llama.cpp's defaults (src/models/<arch>.cpp, load_arch_hparams). Each value is what llama.cpp computes in f32.
 */

/** What readFamily needs of the already-read hyperparameters. */
interface BaseHparams {
  nEmbd: number;
  nHead: number;
  nLayer: number;
  headDim: number;
  ropeBase: number;
  ropeFreqScale: number;
  contextLength: number;
}

const f32 = Math.fround;
/** sqrtf(x) for a float x (the double square root rounded to float is the correctly rounded float one). */
const sqrtf = (x: number) => f32(Math.sqrt(f32(x)));

/** Per architecture: tensors its layers must have beyond llama's, and how its particulars are read. */
const FAMILIES: Record<string, { layerNorms?: string[]; read: (f: GgufFile, hp: BaseHparams) => NativeFamilyConfig }> = {
  gemma2: {
    layerNorms: ["post_attention_norm", "post_ffw_norm"],
    read: (f, hp) => ({
      ...gemmaCommon(hp, 46),
      attnSoftcap: getOptionalNumber(f, "gemma2.attn_logit_softcapping") ?? 50,
      finalSoftcap: getOptionalNumber(f, "gemma2.final_logit_softcapping") ?? 30,
      ...slidingWindow(f, "gemma2", hp, getOptionalNumber(f, "gemma2.attention.sliding_window") ?? 4096, 2, {
        ropeBaseSwa: getOptionalNumber(f, "gemma2.rope.freq_base_swa") ?? hp.ropeBase,
        ropeFreqScaleSwa: hp.ropeFreqScale,
      }),
    }),
  },
  gemma3: {
    layerNorms: ["post_attention_norm", "post_ffw_norm"],
    read: (f, hp) => ({
      ...gemmaCommon(hp, 62),
      finalSoftcap: getOptionalNumber(f, "gemma3.final_logit_softcapping") ?? 0,
      ...slidingWindow(f, "gemma3", hp, getOptionalNumber(f, "gemma3.attention.sliding_window") ?? 0, 6, {
        ropeBaseSwa: getOptionalNumber(f, "gemma3.rope.freq_base_swa") ?? 10000,
        ropeFreqScaleSwa: 1,
      }),
    }),
  },
  phi3: {
    // Q times 1/sqrtf(head size) after RoPE; LongRoPE: rope_factors_long/short (the weights table), cos and sin times
    // rope.scaling.attn_factor. llama.cpp ignores phi3's sliding window ("Phi SWA is currently disabled").
    read: (f, hp) => ({
      qScale: f32(1 / sqrtf(hp.headDim)),
      ropeAttnFactor: getOptionalNumber(f, "phi3.rope.scaling.attn_factor") ?? 1,
      ...(f.tensors.some((t) => t.name === "rope_factors_long.weight")
        ? { ropeOrigContext: getOptionalNumber(f, "phi3.rope.scaling.original_context_length") ?? hp.contextLength }
        : {}),
    }),
  },
  granite: {
    read: (f) => {
      if (f.metadata.get("granite.rope.scaling.finetuned") === false) throw new GgufError(f.path, "granite without RoPE (rope.scaling.finetuned = false) is not supported");
      return {
        embdScale: getOptionalNumber(f, "granite.embedding_scale") ?? 0,
        residualScale: getOptionalNumber(f, "granite.residual_scale") ?? 0,
        attnScale: getOptionalNumber(f, "granite.attention.scale") ?? 0,
        logitScale: getNumber(f, "granite.logit_scale"),
      };
    },
  },
};

/** The family particulars of an architecture (undefined: it computes as llama). */
export function readFamily(f: GgufFile, arch: string, hp: BaseHparams): NativeFamilyConfig | undefined {
  return FAMILIES[arch]?.read(f, hp);
}

/** Per-layer norm tensors (blk.N.<name>.weight, n_embd F32) the architecture requires beyond llama's. */
export function familyLayerNorms(arch: string): readonly string[] {
  return FAMILIES[arch]?.layerNorms ?? [];
}

/**
 * Gemma: embeddings times sqrtf(n_embd), GeGLU, Q times 1/sqrtf(head size) after RoPE — for the 27B models (told
 * apart by their layer count, as llama.cpp does) 1/sqrtf(n_embd / n_head) instead.
 */
function gemmaCommon(hp: BaseHparams, layersOf27B: number): NativeFamilyConfig {
  const qDiv = hp.nLayer === layersOf27B ? Math.floor(hp.nEmbd / hp.nHead) : hp.headDim;
  return { embdScale: sqrtf(hp.nEmbd), qScale: f32(1 / sqrtf(qDiv)), gelu: true };
}

/**
 * Which layers attend through a sliding window of `window` positions: `<arch>.attention.sliding_window_pattern`
 * as an array of booleans, else as a period n (default `period`) where every layer but each n-th is local.
 */
function slidingWindow(f: GgufFile, arch: string, hp: BaseHparams, window: number, period: number, rope: NativeFamilyConfig): NativeFamilyConfig {
  if (!(window > 0)) return {};
  if (!Number.isInteger(window)) throw new GgufError(f.path, `${arch}.attention.sliding_window = ${window} is not a whole number`);
  const key = `${arch}.attention.sliding_window_pattern`;
  const swaLayers = new Uint8Array(hp.nLayer);
  const pattern = f.metadata.get(key);
  if (pattern !== undefined && typeof pattern === "object") {
    const items = Array.from(getArray(f, key)!.items as ArrayLike<unknown>);
    if (items.length !== hp.nLayer) throw new GgufError(f.path, `${key} has ${items.length} entries for ${hp.nLayer} layers`);
    items.forEach((v, l) => (swaLayers[l] = v ? 1 : 0));
  } else {
    const n = getOptionalNumber(f, key) ?? period;
    if (!Number.isInteger(n) || n < 0) throw new GgufError(f.path, `${key} = ${n} is not a layer period`);
    for (let l = 0; l < hp.nLayer; l++) swaLayers[l] = n === 0 || l % n < n - 1 ? 1 : 0;
  }
  return { nSwa: window, swaLayers, ...rope };
}

/** What `info` shows of a family's particulars: short phrases, and the values as JSON. */
export function describeFamily(family: NativeFamilyConfig | undefined, nLayer: number): { lines: string[]; json: Record<string, unknown> } | undefined {
  if (!family) return undefined;
  const lines: string[] = [];
  const json: Record<string, unknown> = {};
  const num = (x: number) => Number(x.toPrecision(6));
  if (family.embdScale) (json.embedding_scale = num(family.embdScale)), lines.push(`embeddings × ${num(family.embdScale)}`);
  if (family.gelu) (json.ffn = "geglu"), lines.push("GeGLU feed-forward");
  if (family.qScale) (json.query_scale = num(family.qScale)), lines.push(`queries × ${num(family.qScale)}`);
  if (family.attnScale) (json.attention_scale = num(family.attnScale)), lines.push(`attention scale ${num(family.attnScale)}`);
  if (family.residualScale) (json.residual_scale = num(family.residualScale)), lines.push(`residual × ${num(family.residualScale)}`);
  if (family.logitScale) (json.logit_scale = num(family.logitScale)), lines.push(`logits ÷ ${num(family.logitScale)}`);
  if (family.attnSoftcap) (json.attention_softcap = family.attnSoftcap), lines.push(`attention soft-cap ${family.attnSoftcap}`);
  if (family.finalSoftcap) (json.final_softcap = family.finalSoftcap), lines.push(`final soft-cap ${family.finalSoftcap}`);
  if (family.nSwa && family.swaLayers) {
    const local = family.swaLayers.reduce((n, v) => n + v, 0);
    // The engine keeps the window layers' K/V in blocks of their own, only each sequence's window (Model.windowLayers).
    const kvCache = local < nLayer ? "window" : "full";
    json.sliding_window = { size: family.nSwa, layers: local, rope_base: family.ropeBaseSwa, rope_freq_scale: family.ropeFreqScaleSwa, kv_cache: kvCache };
    lines.push(`sliding window ${family.nSwa} on ${local} of ${nLayer} layers (rope base ${family.ropeBaseSwa}; ` +
      (kvCache === "window" ? `their KV cache keeps only the window, ${nLayer - local} of ${nLayer} layers keep every position)` : "every position kept)"));
  }
  if (family.ropeOrigContext !== undefined) {
    json.longrope = { original_context: family.ropeOrigContext, attention_factor: num(family.ropeAttnFactor ?? 1) };
    lines.push(`LongRoPE: long factors past ${family.ropeOrigContext} tokens, attention factor ${num(family.ropeAttnFactor ?? 1)}`);
  }
  return { lines, json };
}
