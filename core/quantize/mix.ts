import { GgmlType, getOptionalNumber, getString, typeTraits, type GgufFile, type TensorInfo } from "../gguf/index.ts";
import { QUANT_FTYPES, type QuantFtype } from "./ftypes.ts";

const QUANTIZED = new Set<GgmlType>([
  GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
  GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
]);

type Category = "token_embd" | "output" | "attn_v" | "attn_qkv" | "attn_output" | "ffn_down" | "other";

function category(name: string): Category {
  if (name === "token_embd.weight") return "token_embd";
  if (name === "output.weight") return "output";
  if (name.endsWith(".attn_v.weight")) return "attn_v";
  if (name.endsWith(".attn_qkv.weight")) return "attn_qkv";
  if (name.endsWith(".attn_output.weight")) return "attn_output";
  if (name.includes(".ffn_down")) return "ffn_down";
  return "other";
}

/** llama-quantize's filter: only 2-D+ tensors named *weight, never norms or MoE gates. */
function quantizable(t: TensorInfo): boolean {
  return t.dims.length >= 2 && t.name.endsWith("weight") && !t.name.includes("_norm.weight") && !t.name.includes("ffn_gate_inp.weight");
}

/** llama.cpp's loader order (weight_name_comparer): layer number first (-1 outside layers), then name. */
export function llamaTensorOrder(tensors: readonly TensorInfo[]): TensorInfo[] {
  const layer = (n: string) => { const m = /^blk\.(\d+)\./.exec(n); return m ? Number(m[1]) : -1; };
  return [...tensors].sort((a, b) => layer(a.name) - layer(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Layers that get more bits in the _M mixes: the first and last eighth, and every third in between. */
const useMoreBits = (i: number, n: number): boolean =>
  i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;

/** When a row length does not divide into the chosen type's blocks, llama-quantize demotes it like this. */
function fallback(type: GgmlType, cols: number): GgmlType {
  const block = (t: GgmlType) => typeTraits(t)!.blockSize;
  if (cols % block(type) === 0) return type;
  let out: GgmlType;
  switch (type) {
    case GgmlType.Q2_K: case GgmlType.Q3_K: case GgmlType.Q4_K: out = GgmlType.Q5_0; break;
    case GgmlType.Q5_K: out = GgmlType.Q5_1; break;
    case GgmlType.Q6_K: out = GgmlType.Q8_0; break;
    default: out = type;
  }
  return cols % block(out) === 0 ? out : GgmlType.F16;
}

/**
 * The tensor type llama-quantize (no imatrix, default options) picks for every tensor of a dense llama-family
 * model under `ftype`, following llama_tensor_get_type: tied/untied output handling, the _M/_S/_L bumps for
 * attn_v / attn_output / ffn_down by layer position, and shape fallbacks. MoE, Falcon and 70B-specific rules
 * are not modelled; such models are refused. Layer counters advance in llama.cpp's loader order.
 */
export function planTensorTypes(f: GgufFile, ftype: QuantFtype): Map<string, GgmlType> {
  const arch = getString(f, "general.architecture");
  if (arch === "falcon") throw new Error("quantize: Falcon's tensor mix is not modelled");
  if ((getOptionalNumber(f, `${arch}.expert_count`) ?? 0) > 1) throw new Error("quantize: mixture-of-experts mixes are not modelled");
  const base = QUANT_FTYPES[ftype].base;
  const nHead = getOptionalNumber(f, `${arch}.attention.head_count`) ?? 1;
  const nGqa = nHead / (getOptionalNumber(f, `${arch}.attention.head_count_kv`) ?? nHead);
  const tied = !f.tensors.some((t) => t.name === "output.weight");
  const nAttnV = f.tensors.filter((t) => category(t.name) === "attn_v").length;
  const nFfnDown = f.tensors.filter((t) => category(t.name) === "ffn_down").length;
  let iAttnV = 0, iFfnDown = 0;
  const plan = new Map<string, GgmlType>();
  for (const t of llamaTensorOrder(f.tensors)) {
    if (!quantizable(t)) { plan.set(t.name, t.type); continue; }
    let type: GgmlType = base;
    if (!QUANTIZED.has(base)) { plan.set(t.name, type); continue; }
    const cat = category(t.name);
    if (cat === "output" || (tied && cat === "token_embd")) {
      const cols = t.dims[0]!;
      if (cols % typeTraits(type)!.blockSize !== 0) type = GgmlType.Q8_0;
      else if (type !== GgmlType.Q8_0) type = GgmlType.Q6_K;
    } else if (cat === "attn_v") {
      if (ftype === "Q2_K") type = nGqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
      else if (ftype === "Q3_K_M") type = iAttnV < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
      else if (ftype === "Q3_K_L") type = GgmlType.Q5_K;
      else if ((ftype === "Q4_K_M" || ftype === "Q5_K_M") && useMoreBits(iAttnV, nAttnV)) type = GgmlType.Q6_K;
      else if (ftype === "Q4_K_S" && iAttnV < 4) type = GgmlType.Q5_K;
      iAttnV++;
    } else if (cat === "ffn_down") {
      if (ftype === "Q2_K") type = GgmlType.Q3_K;
      else if (ftype === "Q3_K_M") type = iFfnDown < Math.floor(nFfnDown / 16) ? GgmlType.Q5_K : GgmlType.Q4_K;
      else if (ftype === "Q3_K_L") type = GgmlType.Q5_K;
      else if (ftype === "Q4_K_M") { if (useMoreBits(iFfnDown, nFfnDown)) type = GgmlType.Q6_K; }
      else if (ftype === "Q5_K_M") { if (useMoreBits(iFfnDown, nFfnDown)) type = GgmlType.Q6_K; }
      else if (ftype === "Q4_K_S" && iFfnDown < Math.floor(nFfnDown / 8)) type = GgmlType.Q5_K;
      iFfnDown++;
    } else if (cat === "attn_output") {
      if (ftype === "Q2_K") type = GgmlType.Q3_K;
      else if (ftype === "Q3_K_M") type = GgmlType.Q4_K;
      else if (ftype === "Q3_K_L") type = GgmlType.Q5_K;
    } else if (cat === "attn_qkv") {
      if (ftype === "Q3_K_M" || ftype === "Q3_K_L") type = GgmlType.Q4_K;
      else if (ftype === "Q4_K_M") type = GgmlType.Q5_K;
      else if (ftype === "Q5_K_M") type = GgmlType.Q6_K;
    }
    plan.set(t.name, fallback(type, t.dims[0]!));
  }
  return plan;
}
