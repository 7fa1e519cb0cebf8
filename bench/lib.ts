// Shared pieces of the benchmarks: running commands, llama.cpp's tools, medians of pairwise ratios.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { readGguf } from "../core/gguf/index.ts";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const sharedDir = path.resolve(repoRoot, "../shared");
export const model = (name: string) => path.join(sharedDir, "models", name);

/** Folder of llama.cpp's own tools built for this CPU (builds them the first time, ~5 minutes). */
export function llamaCppTools(): string {
  const script = path.join(sharedDir, "tools/llama-cpp-tools.sh");
  if (!existsSync(script)) throw new Error(`${script} not found: the benchmarks need ../shared beside the repo`);
  return execFileSync("bash", [script, path.join(repoRoot, "node_modules")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * The built command (dist/cli/bin.js, what `npx infer-repl` runs), for figures a user sees of a whole process: peak
 * RSS and load time. bin/infer-repl.mjs runs the sources through tsx, whose transform adds 40-130 MB and seconds.
 * Throws when dist is missing or older than a source file, so a stale build is never measured.
 */
export function builtCli(): string {
  const bin = path.join(repoRoot, "dist/cli/bin.js");
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`npm run build\` first (this benchmark measures the built command)`);
  const built = statSync(bin).mtimeMs;
  const newer = ["cli", "core", "server"].flatMap((dir) => newerSources(path.join(repoRoot, dir), built));
  if (newer.length) throw new Error(`dist/ is older than ${newer[0]}: run \`npm run build\` first`);
  return bin;
}

function newerSources(dir: string, than: number): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return newerSources(p, than);
    return e.name.endsWith(".ts") && statSync(p).mtimeMs > than ? [p] : [];
  });
}

/** Our CLI's `bench --json` output for one file. */
export function inferReplBench(file: string, args: string[]): { pp_tokens_per_s: number; tg_tokens_per_s: number; parallel: { n: number; tokens_per_s: number }[] } {
  return JSON.parse(run(process.execPath, [path.join(repoRoot, "bin/infer-repl.mjs"), "bench", "-m", file, ...args, "--json"]));
}

/** llama-bench's prefill and decode tokens/s (one repetition per call, so runs can alternate). */
export function llamaBench(tools: string, file: string, threads: number, pp: number, tg: number): { pp: number; tg: number } {
  const rows = JSON.parse(run(path.join(tools, "llama-bench"), ["-m", file, "-t", String(threads), "-p", String(pp), "-n", String(tg), "-r", "1", "-o", "json"])) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  return { pp: rows.find((r) => r.n_prompt > 0)?.avg_ts ?? 0, tg: rows.find((r) => r.n_gen > 0)?.avg_ts ?? 0 };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The median of the per-round ratios a[i] / b[i]. Rounds alternate (A B A B ...), so each pair shares one moment
 * of the machine: its ratio is steadier than the ratio of the two medians when the machine is noisy.
 */
export function medianRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((x, i) => x / b[i]!));
}

export function fmt(x: number, digits = 1): string {
  return x.toFixed(digits);
}

/** One llama-batched-bench run: its S_TG (aggregate decode tokens/s) for npl sequences of npp prompt and ntg generated tokens. */
export function llamaBatched(tools: string, file: string, threads: number, npp: number, ntg: number, npl: number): number {
  const ctx = npl * (npp + ntg);
  const args = ["-m", file, "-t", String(threads), "-c", String(ctx), "-b", "2048", "-ub", "512", "-npp", String(npp), "-ntg", String(ntg), "-npl", String(npl)];
  const out = run(path.join(tools, "llama-batched-bench"), args);
  // | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
  const row = out.split("\n").map((l) => l.split("|").map((c) => c.trim()).filter(Boolean)).find((c) => c.length === 10 && Number(c[2]) === npl);
  if (!row) throw new Error(`no result row for B=${npl} in:\n${out}`);
  return Number(row[7]);
}

/** Bytes a decode step reads: every tensor but the token embedding (one row of it; a tied head reads it whole). */
export function weightBytesPerToken(file: string): number {
  const g = readGguf(file);
  const tied = !g.tensors.some((t) => t.name === "output.weight");
  return g.tensors.filter((t) => tied || t.name !== "token_embd.weight").reduce((a, t) => a + Number(t.nBytes), 0);
}

/** memcpy bandwidth with one 256 MiB copy per thread, STREAM's convention (bytes read + bytes written per second). */
export async function copyBandwidth(threads: number): Promise<number> {
  const code = `
    const { parentPort } = require("node:worker_threads");
    const n = 256 << 20, a = Buffer.alloc(n, 1), b = Buffer.alloc(n);
    let best = 0;
    for (let i = 0; i < 6; i++) { const t0 = process.hrtime.bigint(); a.copy(b); const s = Number(process.hrtime.bigint() - t0) / 1e9; best = Math.max(best, (2 * n) / s); }
    parentPort.postMessage(best);`;
  const rates = await Promise.all(Array.from({ length: threads }, () => new Promise<number>((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once("message", (r: number) => { resolve(r); void w.terminate(); });
    w.once("error", reject);
  })));
  return rates.reduce((a, b) => a + b, 0);
}

/** A fresh process's peak resident memory (GNU time's maximum RSS, bytes) and wall time (s). */
export function peakRss(cmd: string, args: string[]): { bytes: number; seconds: number } {
  const r = spawnSync("/usr/bin/time", ["-f", "%M %e", cmd, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const [kb, s] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
  return { bytes: kb! * 1024, seconds: s! };
}
