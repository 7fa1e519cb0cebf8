// Speculative decoding speed as a user meets it: every run is a fresh `infer-repl generate` process (no warm-up:
// the draft model's learned vocabulary starts empty, as it does for a first request), greedy, its decode tokens/s
// from `--json`. Variants: plain decoding of the target, `--spec draft` with each k, n-gram lookup (on a prompt
// that continues a repeated passage) against plain decoding of that prompt, self-drafting, and llama.cpp's
// llama-speculative on the same target/draft pair and k. Rounds alternate all variants; ratios are medians of the
// per-round ratios (the machine is shared and noisy). Every speculating run's greedy text must equal plain decoding's
// of the same prompt (the bench stops otherwise). --llama-threads runs llama-speculative at each of those thread
// counts (default: --threads); its spinning threads suffer most on a loaded machine, where one thread can be its best.
// --cpu-rounds then runs that many more alternating rounds of plain decoding and each draft k, each a fresh process
// generating in-process and reporting the CPU time (every thread) of its generation: a measure the load moves far
// less than tokens/s (a descheduled thread costs wall time, not CPU time). --compare-ahead adds each draft k with
// `--no-draft-ahead` (the next chain drafted in the step, not in the gap after the one before).
//   usage: npx tsx bench/speculative.ts [--rounds 5] [--threads 2] [-n 200] [--k 2,4,8] [--ngram-k 8]
//          [--self-layers 3] [--target F] [--draft F] [--no-llama] [--llama-threads 1,2] [--cpu-rounds 0]
//          [--compare-ahead]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Engine } from "../core/engine.ts";
import { fmt, llamaCppTools, median, medianRatio, model, repoRoot, run } from "./lib.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    n: { type: "string", short: "n", default: "200" },
    k: { type: "string", default: "2,4,8" },
    "ngram-k": { type: "string", default: "8" },
    "self-layers": { type: "string", default: "3" },
    target: { type: "string", default: model("stories15M-f32.gguf") },
    draft: { type: "string", default: model("stories15M-q4_0.gguf") },
    "no-llama": { type: "boolean", default: false },
    "llama-threads": { type: "string" },
    "cpu-rounds": { type: "string", default: "0" },
    "compare-ahead": { type: "boolean", default: false },
    "cpu-child": { type: "string" },
  },
});
if (values["cpu-child"] !== undefined) {
  // One generation in this fresh process (k 0: plain decoding): its CPU time, wall time and text, as JSON.
  const k = Number(values["cpu-child"]);
  const engine = await Engine.load({ model: values.target, threads: Number(values.threads), contextSize: 1024, ...(k > 0 ? { draftModel: values.draft } : {}) });
  const cpu0 = process.cpuUsage(), t0 = performance.now();
  const r = await engine.generate("Once upon a time", { maxTokens: Number(values.n), temperature: 0, ...(k > 0 ? { speculative: { mode: "draft", k } } : {}) });
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - t0, text: r.text }));
  process.exit(0);
}
const rounds = Number(values.rounds), threads = values.threads, n = values.n;
const ks = values.k.split(",").map(Number);
const llamaThreads = (values["llama-threads"] ?? threads).split(",");
const PROMPT = "Once upon a time";

interface Row { tps: number; accept: number; perStep: number; text?: string }

/** One fresh `infer-repl generate --json` process. */
function generate(prompt: string, extra: string[]): Row & { text: string } {
  const out = run(process.execPath, [
    path.join(repoRoot, "bin/infer-repl.mjs"), "generate", "-m", values.target, "-p", prompt, "-n", n, "-t", threads,
    "--temp", "0", "-c", "1024", "--json", ...extra,
  ]);
  const r = JSON.parse(out) as { text: string; stats: { decode_tokens_per_s: number; spec_accept_rate?: number; spec_tokens_per_step?: number } };
  return { text: r.text, tps: r.stats.decode_tokens_per_s, accept: r.stats.spec_accept_rate ?? NaN, perStep: r.stats.spec_tokens_per_step ?? 1 };
}

const tools = values["no-llama"] ? "" : llamaCppTools();
/** Whether llama-speculative runs with --no-repack: set once a run has died of SIGILL or SIGSEGV. On stop 32's
 *  Sapphire Rapids VM its AMX path (the repacked Q4_0 draft) raised SIGILL in the first decode at -t 1 (gdb:
 *  ggml_backend_amx_mul_mat) and SIGSEGV or SIGILL at -t 2; with --no-repack it runs. */
let llamaNoRepack = false;
/** llama-speculative's decode speed and acceptance: "decoded N tokens in S seconds, speed: X t/s", "accept = P%".
 *  On the loaded machine a run once exited 0 having printed nothing after loading; such a run is retried (said on
 *  stderr), twice at most. */
function llamaSpeculative(k: number, t: string, attempt = 1): Row {
  const r = spawnSync(path.join(tools, "llama-speculative"), [
    "-m", values.target, "-md", values.draft, "-p", PROMPT, "-n", n, "-t", t,
    "--spec-draft-n-max", String(k), "--temp", "0", "-c", "1024", ...(llamaNoRepack ? ["--no-repack"] : []),
  ], { encoding: "utf8", maxBuffer: 64 << 20 });
  const log = r.stderr + r.stdout;
  const m = /decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t\/s/.exec(log);
  if (r.status !== 0 || !m) {
    const problem = `llama-speculative -t ${t} k${k} failed (status ${r.status}, signal ${r.signal}) or printed no speed line`;
    if ((r.signal === "SIGILL" || r.signal === "SIGSEGV") && !llamaNoRepack) {
      llamaNoRepack = true;
      process.stderr.write(`${problem}; retrying this and every later run with --no-repack (no AMX repacking)\n`);
      return llamaSpeculative(k, t, attempt);
    }
    if (attempt < 3) {
      process.stderr.write(`${problem}; retrying\n`);
      return llamaSpeculative(k, t, attempt + 1);
    }
    throw new Error(`${problem}: ${r.stderr.slice(-500)}`);
  }
  const accept = /accept\s+=\s+([\d.]+)%/.exec(log);
  return { tps: Number(m[3]), accept: accept ? Number(accept[1]) / 100 : NaN, perStep: NaN };
}

// A prompt that restates a passage and starts it again: the continuation repeats it, which n-gram lookup finds.
// The passage is 100 tokens so that it, its restart and the generated tokens stay near the 256 positions
// stories15M was trained on.
const passage = PROMPT + generate(PROMPT, ["-n", "100"]).text;
const repeatPrompt = `${passage}\n${PROMPT}`;

const variants: [string, () => Row][] = [
  ["plain", () => generate(PROMPT, [])],
  ...ks.map((k): [string, () => Row] => [`draft k${k}`, () => generate(PROMPT, ["--draft", values.draft, "--spec", "draft", "--spec-k", String(k)])]),
  ...(values["compare-ahead"] ? ks.map((k): [string, () => Row] => [`draft k${k} no-ahead`, () => generate(PROMPT, ["--draft", values.draft, "--spec", "draft", "--spec-k", String(k), "--no-draft-ahead"])]) : []),
  ...(values["no-llama"] ? [] : llamaThreads.flatMap((t) => ks.map((k): [string, () => Row] => [llamaName(k, t), () => llamaSpeculative(k, t)]))),
  ["plain (repeat prompt)", () => generate(repeatPrompt, [])],
  [`ngram k${values["ngram-k"]}`, () => generate(repeatPrompt, ["--spec", "ngram", "--spec-k", values["ngram-k"]])],
  ...values["self-layers"].split(",").map((l): [string, () => Row] => [`self:${l} k4`, () => generate(PROMPT, ["--spec", `self:${l}`, "--spec-k", "4"])]),
];
function llamaName(k: number, t: string): string {
  return `llama-speculative k${k}` + (llamaThreads.length > 1 || t !== threads ? ` -t ${t}` : "");
}
const base = (name: string) => (name.startsWith("ngram") || name.includes("repeat") ? "plain (repeat prompt)" : "plain");
const results = new Map<string, Row[]>(variants.map(([name]) => [name, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of variants) {
    const row = fn();
    // Greedy speculation must give plain decoding's text; the first plain run of each prompt is the reference.
    const expected = results.get(base(name))![0]?.text;
    if (row.text !== undefined && expected !== undefined && row.text !== expected) {
      throw new Error(`${name} (round ${r + 1}) gave other text than plain greedy decoding:\n  plain: ${JSON.stringify(expected)}\n  ${name}: ${JSON.stringify(row.text)}`);
    }
    results.get(name)!.push(row);
  }
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}
const ratio = (a: Row[], b: Row[]) => medianRatio(a.map((x) => x.tps), b.map((x) => x.tps));
console.log(`target ${path.basename(values.target)}, draft ${path.basename(values.draft)}, greedy, -n ${n}, -t ${threads}, ` +
  `${rounds} alternating rounds of fresh processes, no warm-up (medians)`);
console.log("variant                    tokens/s  vs plain  accept  tokens/step");
for (const [name, rows] of results) {
  console.log(`${name.padEnd(26)} ${fmt(median(rows.map((x) => x.tps))).padStart(8)}  ${fmt(ratio(rows, results.get(base(name))!), 2).padStart(7)}x  ` +
    `${fmt(median(rows.map((x) => x.accept)), 2).padStart(6)}  ${fmt(median(rows.map((x) => x.perStep)), 2).padStart(6)}`);
}
console.log("greedy text of every speculating run identical to plain decoding's: yes");
if (values["compare-ahead"]) {
  for (const k of ks) console.log(`draft k${k} / draft k${k} no-ahead: ${fmt(ratio(results.get(`draft k${k}`)!, results.get(`draft k${k} no-ahead`)!), 2)}x`);
}
if (!values["no-llama"]) {
  if (llamaNoRepack) console.log("llama-speculative ran with --no-repack (its AMX path died of SIGILL/SIGSEGV here)");
  for (const t of llamaThreads) for (const k of ks) {
    console.log(`infer-repl draft k${k} / ${llamaName(k, t)}: ${fmt(ratio(results.get(`draft k${k}`)!, results.get(llamaName(k, t))!), 2)}x`);
  }
}

const cpuRounds = Number(values["cpu-rounds"]);
if (cpuRounds > 0) {
  const bench = fileURLToPath(import.meta.url);
  const child = (k: number) => JSON.parse(run(process.execPath, ["--import", "tsx", bench, "--cpu-child", String(k), "--target", values.target,
    "--draft", values.draft, "-n", n, "--threads", threads])) as { cpuMs: number; wallMs: number; text: string };
  const cpu = new Map<number, { cpuMs: number; wallMs: number }[]>([0, ...ks].map((k) => [k, []]));
  for (let r = 0; r < cpuRounds; r++) {
    for (const k of [0, ...ks]) {
      const row = child(k);
      const expected = results.get("plain")![0]!.text;
      if (row.text !== expected) throw new Error(`in-process draft k${k} gave other text than plain greedy decoding`);
      cpu.get(k)!.push(row);
    }
    process.stderr.write(`cpu round ${r + 1}/${cpuRounds} done\n`);
  }
  const plain = cpu.get(0)!;
  console.log(`CPU time of one ${n}-token generation (prompt included, every thread), ${cpuRounds} alternating rounds of fresh processes:`);
  console.log(`plain ${fmt(median(plain.map((x) => x.cpuMs)))} ms CPU, ${fmt(median(plain.map((x) => x.wallMs)))} ms wall`);
  for (const k of ks) {
    const rows = cpu.get(k)!;
    console.log(`draft k${k} ${fmt(median(rows.map((x) => x.cpuMs)))} ms CPU, ${fmt(median(rows.map((x) => x.wallMs)))} ms wall; ` +
      `plain CPU / draft CPU ${fmt(medianRatio(plain.map((x) => x.cpuMs), rows.map((x) => x.cpuMs)), 2)}x, ` +
      `plain wall / draft wall ${fmt(medianRatio(plain.map((x) => x.wallMs), rows.map((x) => x.wallMs)), 2)}x`);
  }
}
