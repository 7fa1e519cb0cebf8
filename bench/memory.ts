// Memory and load time of a one-shot generation, infer-repl against llama.cpp's llama-completion on the same file,
// context size and threads: peak resident memory (/usr/bin/time -v's "Maximum resident set size") of
// `infer-repl generate -n 16` and `llama-completion -n 16 -no-cnv`, and load-to-first-token: the process's wall time
// less the time it spent decoding after its first token (infer-repl: --json's total_ms - ttft_ms; llama-completion:
// its "eval time"), so both count process start, model load and the prompt. Rounds alternate the two; ratios are
// medians of the per-round ratios (the machine is shared and noisy). Also each process's CPU time (user + system),
// which a loaded machine distorts less than wall time.
// Runs the built command (`npm run build` first).
//   usage: npx tsx bench/memory.ts [--rounds 3] [--threads 2] [-c 4096] file.gguf ...
import { spawnSync } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { builtCli, fmt, llamaCppTools, median, medianRatio } from "./lib.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    ctx: { type: "string", short: "c", default: "4096" },
  },
});
if (positionals.length === 0) throw new Error("usage: npx tsx bench/memory.ts [--rounds 3] [--threads 2] [-c 4096] file.gguf ...");
const PROMPT = "Once upon a time";
const tools = llamaCppTools();

interface Run { peakMiB: number; loadToFirstMs: number; cpuS: number }

/** Runs a command under /usr/bin/time -v: its output, wall time and peak resident memory. */
function timed(cmd: string, args: string[]): { out: string; err: string; wallMs: number; peakMiB: number; cpuS: number } {
  const r = spawnSync("/usr/bin/time", ["-v", cmd, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr.slice(-800)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  if (!rss || !wall) throw new Error(`/usr/bin/time printed no figures: ${r.stderr.slice(-800)}`);
  const wallMs = ((Number(wall[1] ?? 0) * 60 + Number(wall[2])) * 60 + Number(wall[3])) * 1000;
  const cpuS = Number(/User time \(seconds\): ([\d.]+)/.exec(r.stderr)?.[1]) + Number(/System time \(seconds\): ([\d.]+)/.exec(r.stderr)?.[1]);
  return { out: r.stdout, err: r.stderr, wallMs, peakMiB: Number(rss[1]) / 1024, cpuS };
}

function inferRepl(file: string): Run {
  const r = timed(process.execPath, [
    builtCli(), "generate", "-m", file, "-p", PROMPT, "-n", "16", "-c", values.ctx,
    "-t", values.threads, "--temp", "0", "--json",
  ]);
  const stats = (JSON.parse(r.out) as { stats: { ttft_ms: number; total_ms: number } }).stats;
  return { peakMiB: r.peakMiB, loadToFirstMs: r.wallMs - (stats.total_ms - stats.ttft_ms), cpuS: r.cpuS };
}

function llamaCompletion(file: string): Run {
  const r = timed(path.join(tools, "llama-completion"), [
    "-m", file, "-p", PROMPT, "-n", "16", "-c", values.ctx, "-t", values.threads, "--temp", "0", "-no-cnv",
  ]);
  const evalMs = /\beval time =\s+([\d.]+) ms/.exec(r.err.replace(/prompt eval time/g, ""));
  if (!evalMs) throw new Error(`llama-completion printed no eval time: ${r.err.slice(-800)}`);
  return { peakMiB: r.peakMiB, loadToFirstMs: r.wallMs - Number(evalMs[1]), cpuS: r.cpuS };
}

console.log(`generate -n 16, -c ${values.ctx}, -t ${values.threads}, ${values.rounds} alternating rounds (medians)`);
console.log("file                              peak MiB ours / llama.cpp (ratio)   load-to-first-token ms ours / llama.cpp (ratio)   CPU s ours / llama.cpp");
for (const file of positionals) {
  const ours: Run[] = [], theirs: Run[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    ours.push(inferRepl(file));
    theirs.push(llamaCompletion(file));
  }
  const m = (runs: Run[], key: keyof Run) => median(runs.map((x) => x[key]));
  const ratio = (key: keyof Run) => medianRatio(ours.map((x) => x[key]), theirs.map((x) => x[key]));
  console.log(`${path.basename(file).padEnd(34)}${fmt(m(ours, "peakMiB"), 0).padStart(8)} / ${fmt(m(theirs, "peakMiB"), 0).padStart(6)} (${fmt(ratio("peakMiB"), 2)}x)` +
    `        ${fmt(m(ours, "loadToFirstMs"), 0).padStart(7)} / ${fmt(m(theirs, "loadToFirstMs"), 0).padStart(7)} (${fmt(ratio("loadToFirstMs"), 2)}x)` +
    `       ${fmt(m(ours, "cpuS"), 1)} / ${fmt(m(theirs, "cpuS"), 1)}`);
}
