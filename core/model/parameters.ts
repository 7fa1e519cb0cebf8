import type { GgufFile } from "../gguf/index.ts";
import type { ModelHparams } from "./hparams.ts";

export interface ParameterCounts {
  total: number;
  /** Parameters a token's forward uses: all but the experts it does not choose (= total for a dense model). */
  active: number;
  /** Weight bytes a token's forward reads, likewise (the token embedding counted whole). */
  activeBytes: number;
}

/** Whole and per-token parameter counts: a mixture of experts uses nExpertUsed of each layer's nExpert experts. */
export function parameterCounts(f: GgufFile, hp: ModelHparams): ParameterCounts {
  const unused = hp.nExpert ? 1 - hp.nExpertUsed! / hp.nExpert : 0;
  let total = 0, inactive = 0, bytes = 0, inactiveBytes = 0;
  for (const t of f.tensors) {
    total += t.nElements;
    bytes += t.nBytes;
    if (/\.ffn_(gate|up|down)_exps\.weight$/.test(t.name)) {
      inactive += t.nElements * unused;
      inactiveBytes += t.nBytes * unused;
    }
  }
  return { total, active: Math.round(total - inactive), activeBytes: Math.round(bytes - inactiveBytes) };
}
