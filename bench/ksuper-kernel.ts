// A/B of the few-rows K-quant kernel (native/kernels/tile_ksuper_batch.cc): the working tree's file against another
// revision's, each compiled with the addon's AVX-512 flags (read from binding.gyp) into bench/native/ksuper-kernel.cc's
// one-thread driver. Fresh processes alternate A B; per activation row count it prints the median of the per-pair
// ratios of the smallest CPU time per pass (steady within a few % on a loaded machine, where wall time and the
// N-API bench/expert-matmul.ts are not), and whether both builds give every output the same bits.
//   usage: npx tsx bench/ksuper-kernel.ts [--base main] [--type q4_k|q6_k] [--shape 1024x2048] [--experts 64]
//          [--nact 1,2,3,4,6,8] [--pairs 6] [--reps 10]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fmt, median, repoRoot, run } from "./lib.ts";

const { values } = parseArgs({
  options: {
    base: { type: "string", default: "main" },
    type: { type: "string", default: "q4_k" },
    shape: { type: "string", default: "1024x2048" },
    experts: { type: "string", default: "64" },
    nact: { type: "string", default: "1,2,3,4,6,8" },
    pairs: { type: "string", default: "6" },
    reps: { type: "string", default: "10" },
  },
});
if (values.type !== "q4_k" && values.type !== "q6_k") throw new Error(`--type must be q4_k or q6_k, not ${values.type}`);
const [rows, cols] = values.shape.split("x").map(Number) as [number, number];
const kernel = "native/kernels/tile_ksuper_batch.cc";

/** The compiler flags node-gyp gives the AVX-512 kernels (target defaults, then the kernels_avx512 target's own). */
function avx512Flags(): string[] {
  const gyp = JSON.parse(readFileSync(path.join(repoRoot, "binding.gyp"), "utf8")) as {
    target_defaults: { cflags_cc: string[] };
    targets: { target_name: string; cflags_cc?: string[]; defines?: string[] }[];
  };
  const t = gyp.targets.find((x) => x.target_name === "kernels_avx512");
  if (!t) throw new Error("binding.gyp has no kernels_avx512 target");
  return [...gyp.target_defaults.cflags_cc, ...(t.cflags_cc ?? []), ...(t.defines ?? []).map((d) => `-D${d}`)];
}

const dir = mkdtempSync(path.join(tmpdir(), "ksuper-kernel-"));
try {
  // The base revision's kernel file, compiled from the temporary folder: its includes resolve through -I.
  const baseSource = path.join(dir, "tile_ksuper_batch.cc");
  writeFileSync(baseSource, execFileSync("git", ["-C", repoRoot, "show", `${values.base}:${kernel}`], { encoding: "utf8" }));
  const build = (source: string, out: string) => {
    run("g++", [...avx512Flags(), `-I${path.join(repoRoot, "native/kernels")}`, source, path.join(repoRoot, "bench/native/ksuper-kernel.cc"), "-o", out]);
    return out;
  };
  const A = build(baseSource, path.join(dir, "base")), B = build(path.join(repoRoot, kernel), path.join(dir, "work"));
  const args = [values.type, String(rows), String(cols), values.experts, values.reps, values.nact];
  const parse = (out: string) =>
    new Map(out.trim().split("\n").map((l) => {
      const [, n, ms, hash] = l.split(" ");
      return [Number(n), { ms: Number(ms), hash: hash! }] as const;
    }));
  const ratios = new Map<number, number[]>(), base = new Map<number, number[]>(), work = new Map<number, number[]>();
  const same = new Map<number, boolean>();
  for (let p = 0; p < Number(values.pairs); p++) {
    const a = parse(run(A, args)), b = parse(run(B, args));
    for (const [n, x] of a) {
      const y = b.get(n)!;
      ratios.set(n, [...(ratios.get(n) ?? []), y.ms / x.ms]);
      base.set(n, [...(base.get(n) ?? []), x.ms]);
      work.set(n, [...(work.get(n) ?? []), y.ms]);
      same.set(n, (same.get(n) ?? true) && x.hash === y.hash);
    }
    console.log(`pair ${p + 1}: ${[...ratios].map(([n, r]) => `${n}:${fmt(r.at(-1)!, 3)}`).join(" ")}`);
  }
  const mac = (n: number) => rows * cols * n * Number(values.experts);
  console.log(`\n${values.type} ${values.experts}x ${rows}x${cols}, working tree against ${values.base} (time ratio < 1: the working tree is faster)`);
  console.log("| rows | base GMAC/CPU-s | working tree GMAC/CPU-s | time ratio (median of pairs) | same bits |\n|---|---|---|---|---|");
  for (const [n, r] of ratios)
    console.log(`| ${n} | ${fmt(mac(n) / median(base.get(n)!) / 1e6)} | ${fmt(mac(n) / median(work.get(n)!) / 1e6)} | ${fmt(median(r), 3)} | ${same.get(n) ? "yes" : "NO"} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
