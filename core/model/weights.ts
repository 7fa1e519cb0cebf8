import { GgufError, GgmlType, ggmlTypeName, type GgufFile, type TensorInfo } from "../gguf/index.ts";
import type { NativeTensorRef } from "../native.ts";
import type { ModelHparams } from "./hparams.ts";
import { familyLayerNorms } from "./families.ts";

/** Weight types the native kernels compute with; a tensor of another type is refused by name at load time. */
export const SUPPORTED_WEIGHT_TYPES: ReadonlySet<GgmlType> = new Set([
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
  GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL,
  GgmlType.IQ4_XS,
]);

/**
 * Checks that every tensor the llama-family forward needs is present with the shape the hyperparameters imply,
 * and returns the table the native loader maps (absolute offsets into the file).
 */
export function weightTable(f: GgufFile, hp: ModelHparams): Record<string, NativeTensorRef> {
  const byName = new Map(f.tensors.map((t) => [t.name, t]));
  const table: Record<string, NativeTensorRef> = {};
  const qDim = hp.nHead * hp.headDim, kvDim = hp.nHeadKv * hp.headDim;

  const take = (name: string, dims: number[], opts: { optional?: boolean; f32?: boolean } = {}) => {
    const t = byName.get(name);
    if (!t) {
      if (opts.optional) return;
      throw new GgufError(f.path, `missing tensor '${name}'`);
    }
    checkTensor(f, t, dims, opts.f32 ?? false);
    // A 3-D tensor (merged experts) is its experts' matrices one after another: rows of all of them.
    const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
    table[name] = { type: t.type, offset: f.dataOffset + t.offset, nBytes: t.nBytes, cols: t.dims[0]!, rows };
  };

  take("token_embd.weight", [hp.nEmbd, hp.nVocab]);
  take("output_norm.weight", [hp.nEmbd], { f32: true });
  take("output.weight", [hp.nEmbd, hp.nVocab], { optional: true });
  take("rope_freqs.weight", [hp.ropeDim / 2], { optional: true, f32: true });
  take("rope_factors_long.weight", [hp.ropeDim / 2], { optional: true, f32: true });
  take("rope_factors_short.weight", [hp.ropeDim / 2], { optional: true, f32: true });
  for (let l = 0; l < hp.nLayer; l++) {
    const p = `blk.${l}.`;
    take(p + "attn_norm.weight", [hp.nEmbd], { f32: true });
    if (byName.has(p + "attn_qkv.weight")) {
      take(p + "attn_qkv.weight", [hp.nEmbd, qDim + 2 * kvDim]);  // fused (phi3): Q, K and V rows in turn
    } else {
      take(p + "attn_q.weight", [hp.nEmbd, qDim]);
      take(p + "attn_k.weight", [hp.nEmbd, kvDim]);
      take(p + "attn_v.weight", [hp.nEmbd, kvDim]);
    }
    take(p + "attn_output.weight", [qDim, hp.nEmbd]);
    take(p + "attn_q.bias", [qDim], { optional: true, f32: true });
    take(p + "attn_k.bias", [kvDim], { optional: true, f32: true });
    take(p + "attn_v.bias", [kvDim], { optional: true, f32: true });
    take(p + "attn_q_norm.weight", [hp.qkNormFull ? qDim : hp.headDim], { optional: true, f32: true });
    take(p + "attn_k_norm.weight", [hp.qkNormFull ? kvDim : hp.headDim], { optional: true, f32: true });
    take(p + "ffn_norm.weight", [hp.nEmbd], { f32: true });
    if (hp.nExpert) {
      const ff = hp.nFfExp!;
      take(p + "ffn_gate_inp.weight", [hp.nEmbd, hp.nExpert]);
      take(p + "ffn_gate_exps.weight", [hp.nEmbd, ff, hp.nExpert]);
      take(p + "ffn_up_exps.weight", [hp.nEmbd, ff, hp.nExpert]);
      take(p + "ffn_down_exps.weight", [ff, hp.nEmbd, hp.nExpert]);
      if (hp.nFfShared) {
        take(p + "ffn_gate_inp_shexp.weight", [hp.nEmbd]);
        take(p + "ffn_gate_shexp.weight", [hp.nEmbd, hp.nFfShared]);
        take(p + "ffn_up_shexp.weight", [hp.nEmbd, hp.nFfShared]);
        take(p + "ffn_down_shexp.weight", [hp.nFfShared, hp.nEmbd]);
      }
    } else if (byName.has(p + "ffn_gate.weight")) {
      take(p + "ffn_gate.weight", [hp.nEmbd, hp.nFf]);
      take(p + "ffn_up.weight", [hp.nEmbd, hp.nFf]);
      take(p + "ffn_down.weight", [hp.nFf, hp.nEmbd]);
    } else {
      take(p + "ffn_up.weight", [hp.nEmbd, 2 * hp.nFf]);  // fused (phi3): the gate's rows, then the up projection's
      take(p + "ffn_down.weight", [hp.nFf, hp.nEmbd]);
    }
    for (const norm of familyLayerNorms(hp.architecture)) take(`${p}${norm}.weight`, [hp.nEmbd], { f32: true });
  }
  return table;
}

function checkTensor(f: GgufFile, t: TensorInfo, dims: number[], mustBeF32: boolean): void {
  const same = t.dims.length === dims.length && t.dims.every((d, i) => d === dims[i]);
  if (!same) throw new GgufError(f.path, `tensor '${t.name}' has shape [${t.dims.join(", ")}], expected [${dims.join(", ")}] from the hyperparameters`);
  if (mustBeF32 && t.type !== GgmlType.F32) throw new GgufError(f.path, `tensor '${t.name}' must be F32, it is ${ggmlTypeName(t.type)}`);
  if (!SUPPORTED_WEIGHT_TYPES.has(t.type)) {
    throw new GgufError(f.path, `tensor '${t.name}' has type ${ggmlTypeName(t.type)}, which infer-repl cannot compute with yet`);
  }
}
