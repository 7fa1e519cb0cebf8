// Perplexity of infer-repl against llama.cpp's llama-perplexity on the same files, text and method, in one run,
// beside the figure in ../shared/reference/README.md. llama-perplexity evaluates each chunk as one batch; for
// chunks of 64 tokens or more llama.cpp computes such a batch with other kernels than a lone token (its tiled flash
// attention, its batched Q4_K order), and `infer-repl perplexity` computes with the same ones (Arithmetic
// "batch"), so the two figures should agree to every printed digit. How much that choice moves the figure on this
// short text: llama-perplexity -ub 1 (one token per batch) is shown too.
//   usage: npx tsx bench/perplexity.ts [--threads 2] [-c 128] [-f eval-stories.txt] [file.gguf ...]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fmt, llamaCppTools, model, repoRoot, run, sharedDir } from "./lib.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: "string", default: "2" },
    c: { type: "string", short: "c", default: "128" },
    f: { type: "string", short: "f", default: path.join(sharedDir, "reference/eval-stories.txt") },
  },
});
const threads = String(Number(values.threads)), ctx = String(Number(values.c)), text = values.f;
const files = positionals.length
  ? positionals
  : ["f32", "f16", "q8_0", "q6_k", "q4_k_m", "q4_0"].map((q) => model(`stories15M-${q}.gguf`));
const tools = llamaCppTools();

/** llama-perplexity's "Final estimate: PPL = x +/- e". It logs through an asynchronous logger and its last lines
 *  are sometimes lost at exit (seen: stdout ending at chunk 4 of 5), so stdout and stderr are both searched, the
 *  last `[chunk]ppl` is accepted only for the last chunk, and a run with neither is retried. */
function llamaPerplexity(file: string, extra: string[]): { ppl: number; err: number } {
  const cmd = path.join(tools, "llama-perplexity");
  const args = ["-m", file, "-f", text, "-c", ctx, "-b", ctx, "-t", threads, ...extra];
  for (let attempt = 0; attempt < 3; attempt++) {
    // run() of lib.ts keeps only stdout; the final estimate is on stderr
    const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
    const out = r.stdout + "\n" + r.stderr;
    const final = /Final estimate: PPL = ([\d.]+) \+\/- ([\d.]+)/.exec(out);
    if (final) return { ppl: Number(final[1]), err: Number(final[2]) };
    const nChunks = /perplexity over (\d+) chunks/.exec(out)?.[1];
    const last = [...r.stdout.matchAll(/\[(\d+)\]([\d.]+)/g)].at(-1);
    if (last && last[1] === nChunks) return { ppl: Number(last[2]), err: NaN };
  }
  throw new Error(`no final perplexity in 3 runs of ${cmd} ${args.join(" ")}`);
}

function oursPerplexity(file: string): number {
  const out = run(process.execPath, [path.join(repoRoot, "bin/infer-repl.mjs"), "perplexity", "-m", file, "-f", text, "-c", ctx, "-t", threads, "--json"]);
  return (JSON.parse(out) as { ppl: number }).ppl;
}

/** The `| file | PPL |` table under "## Perplexity" in the reference README, by file name without .gguf. */
function referenceFigures(): Map<string, number> {
  const readme = readFileSync(path.join(sharedDir, "reference/README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Perplexity")) ?? "";
  const rows = new Map<string, number>();
  for (const m of section.matchAll(/^\|\s*([^|]+?)\s*\|\s*([\d.]+)\s*\|\s*$/gm)) rows.set(m[1]!, Number(m[2]));
  return rows;
}

const reference = referenceFigures();
const rel = (ours: number, theirs: number) => `${ours >= theirs ? "+" : ""}${fmt((100 * (ours - theirs)) / theirs, 2)}%`;
const rows: string[][] = [];
const errs: number[] = [];
for (const file of files) {
  const name = path.basename(file, ".gguf");
  process.stderr.write(`${name}: `);
  const ours = oursPerplexity(file);
  const batch = llamaPerplexity(file, []), single = llamaPerplexity(file, ["-ub", "1"]);
  errs.push(batch.err);
  const readme = reference.get(name);
  process.stderr.write(`ours ${fmt(ours, 4)}, llama-perplexity ${fmt(batch.ppl, 4)} (-ub 1: ${fmt(single.ppl, 4)})\n`);
  rows.push([name, fmt(ours, 4), fmt(batch.ppl, 4), rel(ours, batch.ppl), readme === undefined ? "-" : fmt(readme, 4), fmt(single.ppl, 4)]);
}

const header = ["file", "ours", "llama-perplexity", "ours vs it", "README", "its -ub 1"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
console.log(`\nperplexity, -c ${ctx} -b ${ctx} -t ${threads}, ${path.basename(text)}`);
console.log(line(header));
for (const r of rows) console.log(line(r));
const known = errs.filter((e) => !Number.isNaN(e));
if (known.length) console.log(`llama-perplexity's own statistical uncertainty on these figures: +/- ${fmt(Math.min(...known), 2)} to ${fmt(Math.max(...known), 2)}`);
