// Its own module (only the GGML type enum as a dependency) so that the CLI can list the types in `quantize --help`
// without loading the GGUF reader and writer.
import { GgmlType } from "../gguf/types.ts";

/**
 * The file types llama-quantize offers that infer-repl can produce (llama_ftype numbers, as written to
 * general.file_type), each with its base tensor type. The K mixes bump some tensors to more bits.
 */
export const QUANT_FTYPES = {
  F16: { ftype: 1, base: GgmlType.F16 },
  BF16: { ftype: 32, base: GgmlType.BF16 },
  Q8_0: { ftype: 7, base: GgmlType.Q8_0 },
  Q4_0: { ftype: 2, base: GgmlType.Q4_0 },
  Q4_1: { ftype: 3, base: GgmlType.Q4_1 },
  Q5_0: { ftype: 8, base: GgmlType.Q5_0 },
  Q5_1: { ftype: 9, base: GgmlType.Q5_1 },
  Q2_K: { ftype: 10, base: GgmlType.Q2_K },
  Q3_K_S: { ftype: 11, base: GgmlType.Q3_K },
  Q3_K_M: { ftype: 12, base: GgmlType.Q3_K },
  Q3_K_L: { ftype: 13, base: GgmlType.Q3_K },
  Q4_K_S: { ftype: 14, base: GgmlType.Q4_K },
  Q4_K_M: { ftype: 15, base: GgmlType.Q4_K },
  Q5_K_S: { ftype: 16, base: GgmlType.Q5_K },
  Q5_K_M: { ftype: 17, base: GgmlType.Q5_K },
  Q6_K: { ftype: 18, base: GgmlType.Q6_K },
} as const;
export type QuantFtype = keyof typeof QUANT_FTYPES;
