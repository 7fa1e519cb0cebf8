import { createHash, type Hash } from "node:crypto";
import { createWriteStream, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { finished } from "node:stream/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hashFile } from "../fs/sha256-file.ts";

export interface DownloadProgress {
  /** Bytes on disk so far, including a resumed part. */
  readonly received: number;
  /** Full size when the server tells it. */
  readonly total: number | undefined;
}

export interface DownloadOptions {
  /** Expected lowercase hex sha256 of the whole file; a mismatch deletes the download and throws. */
  readonly sha256?: string;
  /** Expected size in bytes; checked before the hash. */
  readonly size?: number;
  readonly onProgress?: (p: DownloadProgress) => void;
  readonly signal?: AbortSignal;
  /** Give up on a connection that sends nothing for this long. */
  readonly idleTimeoutMs?: number;
  /** Further attempts after a network failure, a timeout or a 5xx; each resumes from the .part file. */
  readonly retries?: number;
  /** Delay before retry n (1-based) is n times this. */
  readonly retryDelayMs?: number;
}

export interface DownloadResult {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** Bytes taken over from an earlier interrupted download. */
  readonly resumedFrom: number;
}

/** A download that failed; `retryable` tells whether trying again could help. */
export class DownloadError extends Error {
  constructor(readonly url: string, readonly detail: string, readonly retryable: boolean) {
    super(`download of ${url} failed: ${detail}`);
    this.name = "DownloadError";
  }
}

const MAX_REDIRECTS = 10;
const MAX_WRITE_BACKLOG = 32 << 20;

/**
 * Downloads `url` to `dest` through `dest + ".part"`, resuming that part with a Range request when it exists.
 * The sha256 covers the whole file, resumed bytes included; the part is renamed onto `dest` only once size and
 * hash check out. An interrupted download keeps its part for the next attempt; a wrong one is deleted.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const { retries = 3, retryDelayMs = 1000 } = options;
  mkdirSync(path.dirname(dest), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptDownload(url, dest, options);
    } catch (e) {
      options.signal?.throwIfAborted();
      const error = asDownloadError(url, e);
      if (!(error instanceof DownloadError) || !error.retryable || attempt >= retries) throw error;
      await sleep(retryDelayMs * (attempt + 1), undefined, { signal: options.signal });
    }
  }
}

async function attemptDownload(url: string, dest: string, options: DownloadOptions): Promise<DownloadResult> {
  const part = `${dest}.part`;
  let offset = fileSize(part);
  if (options.size !== undefined && offset > options.size) {
    rmSync(part);
    offset = 0;
  }
  // Hashed before the request: once the response is in, its data must be consumed without a pause, see below.
  let hash = offset > 0 ? await hashFile(part) : createHash("sha256");
  const response = await get(url, offset > 0 ? { Range: `bytes=${offset}-` } : {}, options);
  const fail = (detail: string, retryable: boolean): DownloadError => {
    response.destroy();
    return new DownloadError(url, detail, retryable);
  };

  let total: number | undefined;
  if (response.statusCode === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers["content-range"] ?? "");
    if (!range || Number(range[1]) !== offset) {
      // A range we did not ask for: drop the part rather than splice mismatched bytes.
      rmSync(part, { force: true });
      throw fail(`server answered a resume from byte ${offset} with Content-Range '${response.headers["content-range"]}'`, true);
    }
    total = range[2] === "*" ? undefined : Number(range[2]);
  } else if (response.statusCode === 416 && offset > 0) {
    response.resume();
    const full = /^bytes \*\/(\d+)$/.exec(response.headers["content-range"] ?? "");
    if (full && Number(full[1]) === offset) return finish(url, part, dest, hash, offset, offset, options);
    rmSync(part, { force: true });
    throw fail(`server cannot resume from byte ${offset}; starting over`, true);
  } else if (response.statusCode === 200) {
    // The server ignored the Range header and sends everything.
    offset = 0;
    hash = createHash("sha256");
    const length = Number(response.headers["content-length"]);
    total = Number.isFinite(length) && response.headers["content-length"] !== undefined ? length : undefined;
  } else {
    const status = response.statusCode ?? 0;
    throw fail(`HTTP ${status} ${response.statusMessage ?? ""}`.trim(), status >= 500 || status === 408 || status === 429);
  }
  if (total !== undefined && options.size !== undefined && total !== options.size) {
    throw fail(`server reports ${total} bytes, expected ${options.size}`, false);
  }

  let received = offset;
  options.onProgress?.({ received, total });
  // Chunks go straight from the socket into the file's write queue: data left waiting in a paused response is
  // thrown away when the connection drops, while queued writes are still flushed, so after a cut the part holds
  // everything that arrived. The response is paused only when the disk falls far behind.
  const out = createWriteStream(part, { flags: offset > 0 ? "a" : "w" });
  response.on("data", (chunk: Buffer) => {
    out.write(chunk);
    hash.update(chunk);
    received += chunk.length;
    options.onProgress?.({ received, total });
    if (out.writableLength > MAX_WRITE_BACKLOG) {
      response.pause();
      out.once("drain", () => response.resume());
    }
  });
  let failure: unknown;
  try {
    await finished(response);
  } catch (e) {
    failure = e;
  }
  if (!out.writableEnded) out.end();
  try {
    await finished(out);
  } catch (e) {
    failure ??= e;
  }
  if (failure !== undefined) throw failure;
  if (total !== undefined && received !== total) {
    throw new DownloadError(url, `connection ended after ${received} of ${total} bytes`, true);
  }
  return finish(url, part, dest, hash, received, offset, options);
}

function finish(url: string, part: string, dest: string, hash: Hash, size: number, resumedFrom: number, options: DownloadOptions): DownloadResult {
  if (options.size !== undefined && size !== options.size) {
    rmSync(part, { force: true });
    throw new DownloadError(url, `got ${size} bytes, expected ${options.size}; the download was deleted`, false);
  }
  const sha256 = hash.digest("hex");
  if (options.sha256 !== undefined && sha256 !== options.sha256.toLowerCase()) {
    rmSync(part, { force: true });
    throw new DownloadError(url, `sha256 mismatch: expected ${options.sha256}, got ${sha256}; the download was deleted`, false);
  }
  renameSync(part, dest);
  return { path: dest, sha256, size, resumedFrom };
}

/** GET with redirects followed and an idle timeout; resolves once the response headers are in. */
async function get(url: string, headers: Record<string, string>, options: DownloadOptions, redirects = 0): Promise<IncomingMessage> {
  const target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new DownloadError(url, `unsupported protocol '${target.protocol}' (http and https are)`, false);
  }
  const client = target.protocol === "https:" ? https : http;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = client.get(target, { headers: { "User-Agent": "infer-repl", ...headers }, signal: options.signal }, resolve);
    req.setTimeout(idleTimeoutMs, () => req.destroy(new DownloadError(url, `no data for ${idleTimeoutMs} ms`, true)));
    req.on("error", reject);
  });
  const status = response.statusCode ?? 0;
  if (status >= 300 && status < 400 && response.headers.location) {
    response.resume();
    if (redirects >= MAX_REDIRECTS) throw new DownloadError(url, `more than ${MAX_REDIRECTS} redirects`, false);
    return get(new URL(response.headers.location, target).href, headers, options, redirects + 1);
  }
  return response;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function asDownloadError(url: string, e: unknown): Error {
  if (e instanceof DownloadError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.name === "AbortError") return err;
  // No name resolution or nobody listening: offline, or a wrong host; waiting and retrying would only delay
  // the caller's fallback.
  const unreachable = err?.code === "ENOTFOUND" || err?.code === "EAI_AGAIN" || err?.code === "ECONNREFUSED";
  return new DownloadError(url, err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? e), !unreachable);
}
