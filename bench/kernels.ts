// Prefill and decode speed of infer-repl's native forward against llama-bench on the same files, same thread
// count, alternating the two (A B A B) so machine noise hits both; reports medians and the median of pairwise ratios.
// With --cpu, speeds are tokens per CPU-second at one thread instead (robust when other processes share the
// cores): ours from process.cpuUsage, llama-bench's from /usr/bin/time as the difference between a 6-repetition
// and a 1-repetition run (which cancels model loading).
//   usage: tsx bench/kernels.ts [--threads 2] [--rounds 3] [--models f32,q8_0,q4_0,q4_k_m] [--cpu]
import { execFileSync, spawnSync } from "node:child_process";
import path from "node:path";
import { llamaCppTools, median, medianRatio, sharedDir } from "./lib.ts";
import { NativeDriver } from "./native-driver.ts";

const PROMPT = 256, GEN = 128;
const models = path.join(sharedDir, "models");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

interface Speed { prefill: number; decode: number }

const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

/** CPU seconds of one llama-bench run (user + system, from /usr/bin/time). */
function llamaBenchCpu(bin: string, model: string, args: string[]): number {
  const run = spawnSync("/usr/bin/time", ["-f", "CPU %U %S", path.join(bin, "llama-bench"), "-m", model, "-t", "1", "--no-warmup", ...args],
    { encoding: "utf8" });
  const m = /CPU ([\d.]+) ([\d.]+)/.exec(run.stderr ?? "");
  if (!m) throw new Error("could not read llama-bench's CPU time");
  return Number(m[1]) + Number(m[2]);
}

function llamaBenchPerCpuSecond(bin: string, model: string): Speed {
  const extra = 5; // repetitions beyond the first, whose CPU time is the measured work (time(1) has 10 ms resolution)
  const work = (args: string[]) => llamaBenchCpu(bin, model, [...args, "-r", String(1 + extra)]) - llamaBenchCpu(bin, model, [...args, "-r", "1"]);
  return { prefill: (extra * PROMPT) / work(["-p", String(PROMPT), "-n", "0"]), decode: (extra * GEN) / work(["-p", "0", "-n", String(GEN)]) };
}

async function oursPerCpuSecond(d: NativeDriver): Promise<Speed> {
  const prompt = Array.from({ length: PROMPT }, (_, i) => 1 + (i * 7919) % (d.hp.nVocab - 1));
  d.reset();
  await d.step(prompt.slice(0, 8));
  d.reset();
  let c0 = process.cpuUsage();
  await d.step(prompt);
  const prefill = PROMPT / cpuSeconds(process.cpuUsage(c0));
  d.reset();
  c0 = process.cpuUsage();
  for (let i = 0; i < GEN; i++) await d.step([prompt[i]!]);
  return { prefill, decode: GEN / cpuSeconds(process.cpuUsage(c0)) };
}

function llamaBench(bin: string, model: string, threads: number): Speed {
  const out = execFileSync(path.join(bin, "llama-bench"),
    ["-m", model, "-t", String(threads), "-p", String(PROMPT), "-n", String(GEN), "-r", "1", "-o", "json"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const rows = JSON.parse(out) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  return { prefill: rows.find((r) => r.n_prompt > 0)!.avg_ts, decode: rows.find((r) => r.n_gen > 0)!.avg_ts };
}

async function ours(d: NativeDriver): Promise<Speed> {
  const prompt = Array.from({ length: PROMPT }, (_, i) => 1 + (i * 7919) % (d.hp.nVocab - 1));
  d.reset();
  await d.step(prompt.slice(0, 8)); // warm caches and the pool
  d.reset();
  let t0 = performance.now();
  await d.step(prompt);
  const prefill = PROMPT / ((performance.now() - t0) / 1000);
  d.reset();
  t0 = performance.now();
  for (let i = 0; i < GEN; i++) await d.step([prompt[i]!]);
  const decode = GEN / ((performance.now() - t0) / 1000);
  return { prefill, decode };
}

async function main(): Promise<void> {
  const cpu = process.argv.includes("--cpu");
  const threads = cpu ? 1 : Number(arg("threads", "2")), rounds = Number(arg("rounds", "3"));
  const names = arg("models", "f32,q8_0,q4_0,q4_k_m").split(",");
  const bin = llamaCppTools();
  console.log(`threads ${threads}, ${rounds} alternating rounds, pp${PROMPT} / tg${GEN} (${cpu ? "tokens per CPU-second" : "tokens/s"})`);
  console.log("model      | ours pp | llama pp | pp ratio | ours tg | llama tg | tg ratio");
  for (const name of names) {
    const file = path.join(models, `stories15M-${name}.gguf`);
    const d = NativeDriver.open(file, threads, PROMPT + GEN + 16);
    const a: Speed[] = [], b: Speed[] = [];
    for (let r = 0; r < rounds; r++) {
      a.push(cpu ? await oursPerCpuSecond(d) : await ours(d));
      b.push(cpu ? llamaBenchPerCpuSecond(bin, file) : llamaBench(bin, file, threads));
    }
    const ppRatio = medianRatio(a.map((x) => x.prefill), b.map((x) => x.prefill));
    const tgRatio = medianRatio(a.map((x) => x.decode), b.map((x) => x.decode));
    const f = (x: number) => x.toFixed(0).padStart(7);
    console.log(`${name.padEnd(10)} | ${f(median(a.map((x) => x.prefill)))} | ${f(median(b.map((x) => x.prefill)))}  | ${ppRatio.toFixed(2).padStart(8)} | ${f(median(a.map((x) => x.decode)))} | ${f(median(b.map((x) => x.decode)))}  | ${tgRatio.toFixed(2).padStart(8)}`);
  }
}

await main();
