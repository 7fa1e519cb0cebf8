import type { Command } from "commander";
import { log } from "../io.ts";
import { progressPrinter } from "../model-arg.ts";

/** Getting model files: `pull` into the cache, `convert llama2c` from a llama2.c checkpoint. */
export function registerModelCommands(program: Command): void {
  program
    .command("pull")
    .description("download a known model (e.g. stories15M) or a URL into the model cache, with progress and checksum")
    .argument("<name-or-url>")
    .action(async (what: string) => {
      const { pullModel } = await import("../../core/models/resolve.ts");
      const r = await pullModel(what, { onProgress: progressPrinter(), onNotice: log });
      process.stdout.write(r.path + "\n");
    });

  const convert = program.command("convert").description("convert other checkpoint formats to GGUF");
  convert
    .command("llama2c")
    .description("a llama2.c checkpoint and its tokenizer.bin to GGUF (F32)")
    .argument("<model.bin>")
    .argument("<tokenizer.bin>")
    .argument("<out.gguf>")
    .action(async (model: string, tokenizer: string, out: string) => {
      const { convertLlama2c } = await import("../../core/convert/llama2c.ts");
      convertLlama2c(model, tokenizer, out);
      log(`wrote ${out}`);
    });
  for (const c of convert.commands) c.exitOverride();
}
