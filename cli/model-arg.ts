import type { DownloadProgress } from "../core/models/download.ts";
import { log } from "./io.ts";

/**
 * Turns the -m / positional model argument (a file, a known name such as stories15M, or a URL; the default model
 * when absent) into a local file, reporting downloads and fallbacks on stderr.
 */
export async function resolveModelArg(arg: string | undefined): Promise<string> {
  const { resolveModel } = await import("../core/models/resolve.ts");
  const resolved = await resolveModel(arg || undefined, { onProgress: progressPrinter(), onNotice: log });
  return resolved.path;
}

/** A download progress line on stderr, redrawn in place on a terminal and every 10% otherwise. */
export function progressPrinter(): (p: DownloadProgress) => void {
  let lastDecile = -1;
  return ({ received, total }) => {
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    const pct = total ? Math.floor((received / total) * 100) : undefined;
    const line = `downloading: ${mib(received)}${total ? ` / ${mib(total)} MiB (${pct}%)` : " MiB"}`;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${line}${received === total ? "\n" : ""}`);
    } else if (pct !== undefined && Math.floor(pct / 10) > lastDecile) {
      lastDecile = Math.floor(pct / 10);
      log(line);
    }
  };
}
