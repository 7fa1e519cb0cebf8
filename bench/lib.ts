// Shared pieces of the benchmarks: running commands, llama.cpp's tools, medians of pairwise ratios.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
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

export function fmt(x: number, digits = 1): string {
  return x.toFixed(digits);
}
