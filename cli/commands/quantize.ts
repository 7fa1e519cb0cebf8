import type { Command } from "commander";
import { QUANT_FTYPES, type QuantFtype } from "../../core/quantize/mix.ts";
import { UsageError } from "../errors.ts";
import { log } from "../io.ts";

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description("write a quantized copy of a GGUF model with llama-quantize's per-tensor mixes")
    .argument("<in.gguf>")
    .argument("<out.gguf>")
    .argument("<type>", `one of ${Object.keys(QUANT_FTYPES).join(", ")}`)
    .option("--allow-requantize", "accept already-quantized source tensors (precision is lost twice)")
    .action(async (input: string, output: string, type: string, flags: { allowRequantize?: boolean }) => {
      const ftype = type.toUpperCase();
      if (!(ftype in QUANT_FTYPES)) throw new UsageError(`quantize: unknown type '${type}' (expected one of ${Object.keys(QUANT_FTYPES).join(", ")})`);
      const [{ ggmlTypeName }, { quantizeGguf }] = await Promise.all([import("../../core/gguf/index.ts"), import("../../core/quantize/index.ts")]);
      const report = quantizeGguf(input, output, ftype as QuantFtype, { allowRequantize: flags.allowRequantize ?? false });
      const counts = new Map<string, number>();
      for (const t of report) counts.set(ggmlTypeName(t.to), (counts.get(ggmlTypeName(t.to)) ?? 0) + 1);
      log(`wrote ${output}: ${[...counts].map(([k, n]) => `${n} ${k}`).join(", ")}`);
    });
}
