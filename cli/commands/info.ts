import type { Command } from "commander";
import { writeJson } from "../io.ts";

export function registerInfo(program: Command): void {
  program
    .command("info")
    .description("architecture, hyperparameters, tensor types, memory needed")
    .argument("<model>", "GGUF model file")
    .option("--json", "print JSON")
    .action(async (path: string, flags: { json?: boolean }) => {
      const [{ ggmlTypeName, readGguf }, { readHparams }, { parameterCounts }, { describeFamily }] = await Promise.all([
        import("../../core/gguf/index.ts"), import("../../core/model/hparams.ts"), import("../../core/model/parameters.ts"),
        import("../../core/model/families.ts"),
      ]);
      const f = readGguf(path);
      const hp = readHparams(f);
      const types: Record<string, number> = {};
      let weightBytes = 0;
      for (const t of f.tensors) {
        const name = ggmlTypeName(t.type);
        types[name] = (types[name] ?? 0) + 1;
        weightBytes += t.nBytes;
      }
      const kvBytesPerToken = hp.nLayer * 2 * hp.nHeadKv * hp.headDim * 2;
      const params = parameterCounts(f, hp);
      const experts = hp.nExpert
        ? { n_expert: hp.nExpert, n_expert_used: hp.nExpertUsed!, n_ff_expert: hp.nFfExp!, weights_normalized: hp.expertWeightsNorm!, ...(hp.nFfShared ? { n_ff_shared_expert: hp.nFfShared } : {}) }
        : null;
      const family = describeFamily(hp.family, hp.nLayer);
      const info = {
        path,
        gguf_version: f.version,
        architecture: hp.architecture,
        name: f.metadata.get("general.name") ?? null,
        hparams: {
          n_vocab: hp.nVocab, n_embd: hp.nEmbd, n_layer: hp.nLayer, n_head: hp.nHead, n_head_kv: hp.nHeadKv,
          head_dim: hp.headDim, n_ff: hp.nFf, context_length: hp.contextLength, rope_base: hp.ropeBase,
          rope_dim: hp.ropeDim, rms_eps: hp.rmsEps,
        },
        family: family?.json ?? null,
        tokenizer: f.metadata.get("tokenizer.ggml.model") ?? null,
        tensors: f.tensors.length,
        tensor_types: types,
        weights_bytes: weightBytes,
        parameters: params.total,
        experts,
        active_parameters: params.active,
        active_weights_bytes: params.activeBytes,
        kv_bytes_per_token_f16: kvBytesPerToken,
      };
      if (flags.json) return writeJson(info);
      const mib = (b: number) => (b / 2 ** 20).toFixed(1) + " MiB";
      const billions = (n: number) => (n >= 1e9 ? (n / 1e9).toFixed(2) + "B" : (n / 1e6).toFixed(1) + "M");
      process.stdout.write(
        [
          `${path}`,
          `  architecture  ${hp.architecture} (GGUF v${f.version})`,
          `  layers ${hp.nLayer}, embedding ${hp.nEmbd}, heads ${hp.nHead} (KV ${hp.nHeadKv}), head dim ${hp.headDim}, FFN ${hp.nFf}`,
          ...(family ? [`  family        ${family.lines.join("; ")}`] : []),
          `  vocabulary ${hp.nVocab} (${info.tokenizer}), context ${hp.contextLength}, rope base ${hp.ropeBase}`,
          `  tensors ${f.tensors.length}: ${Object.entries(types).map(([k, v]) => `${v} ${k}`).join(", ")}`,
          ...(experts
            ? [`  experts ${experts.n_expert}, ${experts.n_expert_used} per token${experts.weights_normalized ? " (weights renormalised)" : ""}, expert FFN ${experts.n_ff_expert}${hp.nFfShared ? `, a shared expert (FFN ${hp.nFfShared})` : ""}`,
               `  parameters ${billions(params.total)}, ${billions(params.active)} active per token (${mib(params.activeBytes)} of weights read per token)`]
            : [`  parameters ${billions(params.total)}`]),
          `  memory: weights ${mib(weightBytes)} (mapped), KV ${(kvBytesPerToken / 1024).toFixed(1)} KiB per token (f16)`,
        ].join("\n") + "\n",
      );
    });
}
