import type { Command } from "commander";
import { QUANT_FTYPES, type QuantFtype } from "../../core/quantize/ftypes.ts";
import { UsageError } from "../errors.ts";
import { log } from "../io.ts";

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description("write a quantized copy of a GGUF model with llama-quantize's per-tensor mixes")
    .argument("<in.gguf>")
    .argument("<out.gguf>")
    .argument("<type>", `one of ${Object.keys(QUANT_FTYPES).join(", ")} (or Q3_K, Q4_K, Q5_K for their _M mixes, or a file type number, as llama-quantize takes them)`)
    .option("--allow-requantize", "accept already-quantized source tensors (precision is lost twice)")
    .action(async (input: string, output: string, type: string, flags: { allowRequantize?: boolean }) => {
      const ftype = parseQuantType(type);
      const [{ ggmlTypeName }, { quantizeGguf }] = await Promise.all([import("../../core/gguf/index.ts"), import("../../core/quantize/index.ts")]);
      const report = quantizeGguf(input, output, ftype, { allowRequantize: flags.allowRequantize ?? false });
      const counts = new Map<string, number>();
      for (const t of report) counts.set(ggmlTypeName(t.to), (counts.get(ggmlTypeName(t.to)) ?? 0) + 1);
      log(`wrote ${output}: ${[...counts].map(([k, n]) => `${n} ${k}`).join(", ")}`);
    });
}

/** llama-quantize's short names for the _M mixes. */
const ALIASES: Record<string, QuantFtype> = { Q3_K: "Q3_K_M", Q4_K: "Q4_K_M", Q5_K: "Q5_K_M" };

/** Types llama-quantize offers that infer-repl does not write. */
const NOT_IMPLEMENTED = ["Q1_0", "Q2_0", "MXFP4_MOE", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "TQ1_0", "TQ2_0", "Q2_K_S",
  "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ4_NL", "IQ4_XS", "F32", "COPY"];

/**
 * The file type as llama-quantize reads its type argument: a name in any case, an alias (Q4_K is Q4_K_M), or the
 * llama_ftype number (15 is Q4_K_M).
 */
export function parseQuantType(text: string): QuantFtype {
  const name = text.trim().toUpperCase();
  if (name in QUANT_FTYPES) return name as QuantFtype;
  if (name in ALIASES) return ALIASES[name]!;
  const byNumber = /^\d+$/.test(name) ? Object.entries(QUANT_FTYPES).find(([, t]) => t.ftype === Number(name)) : undefined;
  if (byNumber) return byNumber[0] as QuantFtype;
  const supported = `supported: ${Object.keys(QUANT_FTYPES).join(", ")}, and the aliases ${Object.keys(ALIASES).join(", ")}`;
  if (NOT_IMPLEMENTED.includes(name)) throw new UsageError(`quantize: ${name} is a llama-quantize type that infer-repl does not write (${supported})`);
  throw new UsageError(`quantize: unknown type '${text}' (${supported})`);
}
