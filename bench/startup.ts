// Whole-process start-up of the infer-repl command, each run a fresh process: `--help`, `--version`, and
// `generate -n 16` on stories15M-q8_0 (load, prompt, 16 tokens, exit). Entries run in alternating rounds (A B, then
// B A, ...); the report gives each entry's median wall time per case and the median of the per-round ratios to the
// first entry. The default entries are the built command (dist/cli/bin.js: what the package runs; `npm run build`
// first) and the TypeScript sources through tsx (bin/infer-repl.mjs: what the tests run). `node -e 0` runs in every
// round too: the machine's own cost of starting node, to read the figures against (a loaded machine inflates all).
// CPU time (user + system) is given where /usr/bin/time exists: it moves less than wall time with the machine's load.
//   usage: npx tsx bench/startup.ts [--rounds 10] [--entry NAME=PATH ...] [model.gguf]
//   e.g. an older checkout against this one: --entry before=../old/bin/infer-repl.mjs --entry after=dist/cli/bin.js
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fmt, median, model, repoRoot } from "./lib.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: "string", default: "10" }, entry: { type: "string", multiple: true } },
});
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const entries = (values.entry ?? ["built=dist/cli/bin.js", "source=bin/infer-repl.mjs"]).map((e) => {
  const [name, entry] = e.split("=") as [string, string | undefined];
  if (!entry) throw new Error(`--entry ${e}: expected NAME=PATH`);
  const full = path.resolve(repoRoot, entry);
  if (!existsSync(full)) throw new Error(`${full} not found${entry.startsWith("dist/") ? " (npm run build first)" : ""}`);
  return { name, args: [full] };
});
const cases: Record<string, string[]> = {
  "--help": ["--help"],
  "--version": ["--version"],
  "generate -n 16": ["generate", "-m", file, "-p", "Once upon a time", "--temp", "0", "-n", "16"],
};
const TIME = "/usr/bin/time";
const withCpu = existsSync(TIME);

interface Sample { wallMs: number; cpuMs?: number }

/** One run; undefined when the command exits non-zero (an older build without `--version`, say). */
function timed(args: string[]): Sample | undefined {
  const command = withCpu ? TIME : process.execPath;
  const argv = withCpu ? ["-f", "cpu %U %S", process.execPath, ...args] : args;
  const t0 = performance.now();
  const r = spawnSync(command, argv, { encoding: "utf8", cwd: repoRoot });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) return undefined;
  const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  return cpu ? { wallMs, cpuMs: (Number(cpu[1]) + Number(cpu[2])) * 1000 } : { wallMs };
}

const rounds = Number(values.rounds);
const samples = new Map<string, Sample[]>(); // "entry|case"
const ratios = new Map<string, number[]>();
const failed = new Map<string, string>(); // "entry|case" -> the command that failed; not run again
const add = <T>(m: Map<string, T[]>, k: string, v: T) => m.set(k, [...(m.get(k) ?? []), v]);
for (let round = 0; round < rounds; round++) {
  add(samples, "node -e 0|", timed(["-e", "0"])!);
  for (const [label, args] of Object.entries(cases)) {
    const order = round % 2 === 0 ? entries : [...entries].reverse();
    const wall = new Map<string, number>();
    for (const e of order) {
      const key = `${e.name}|${label}`;
      if (failed.has(key)) continue;
      const s = timed([...e.args, ...args]);
      if (!s) failed.set(key, `node ${[...e.args, ...args].join(" ")}`);
      else add(samples, key, s), wall.set(e.name, s.wallMs);
    }
    const base = wall.get(entries[0]!.name);
    for (const e of entries.slice(1)) if (base && wall.has(e.name)) add(ratios, `${e.name}|${label}`, wall.get(e.name)! / base);
  }
  process.stderr.write(`round ${round + 1}/${rounds}\n`);
}

const row = (key: string) => {
  const s = samples.get(key);
  if (!s) return `failed: ${failed.get(key)} exits non-zero`;
  const cpu = s.every((x) => x.cpuMs !== undefined) ? `, cpu ${fmt(median(s.map((x) => x.cpuMs!)), 0)} ms` : "";
  return `median wall ${fmt(median(s.map((x) => x.wallMs)), 0)} ms${cpu}`;
};
console.log(`whole-process start-up, ${rounds} alternating rounds, ${path.basename(file)}`);
console.log(`  node -e 0: ${row("node -e 0|")}`);
for (const label of Object.keys(cases)) {
  for (const e of entries) {
    const ratio = ratios.get(`${e.name}|${label}`);
    console.log(`  ${label.padEnd(15)} ${e.name.padEnd(10)} ${row(`${e.name}|${label}`)}${ratio ? `; ${fmt(median(ratio), 2)}x of ${entries[0]!.name} (median of per-round ratios)` : ""}`);
  }
}
