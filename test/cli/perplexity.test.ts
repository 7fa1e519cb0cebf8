import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { nativeKernels as k } from "../../core/native-kernels.ts";
import { runCli } from "../helpers/cli.ts";
import { noShared, sharedDir, sharedModel } from "../helpers/index.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-ppl-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const model = sharedModel("stories260K.gguf");
const evalText = path.join(sharedDir, "reference/eval-stories.txt");

test("infer-repl perplexity --json: llama.cpp's figure for stories260K on eval-stories.txt (4.2587)", { skip: noShared, timeout: 120_000 }, async () => {
  const r = await runCli(["perplexity", "-m", model, "-f", evalText, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out).sort(), ["chunks", "model", "ppl", "tokens"]);
  assert.equal(out["model"], model);
  assert.equal(out["chunks"], 10);
  assert.equal(out["tokens"], 10 * 63, "positions 64..126 of each 128-token chunk are scored");
  assert.equal((out["ppl"] as number).toFixed(4), "4.2587");
});

/** The reference README's perplexity table: llama-perplexity -c 128 -b 128 (file name -> PPL). */
function referencePerplexities(): Map<string, number> {
  const readme = readFileSync(path.join(sharedDir, "reference/README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Perplexity"), readme.indexOf("## Speed"));
  return new Map([...section.matchAll(/^\| (stories15M-\S+) \| ([\d.]+) \|$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

// llama-perplexity evaluates each 128-token chunk as one batch, which llama.cpp computes with its batched kernels;
// the command computes with the same arithmetic, so its figure is llama.cpp's to every printed digit.
test("infer-repl perplexity: llama-perplexity's figure to 4 decimals for each shared stories15M file", { skip: noShared, timeout: 300_000 }, async () => {
  const want = referencePerplexities();
  assert.equal(want.size, 6, `reference table: ${[...want.keys()].join(", ")}`);
  for (const [name, ppl] of want) {
    const r = await runCli(["perplexity", "-m", sharedModel(`${name}.gguf`), "-f", evalText, "-t", "2", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const got = (JSON.parse(r.stdout) as { ppl: number }).ppl;
    assert.equal(got.toFixed(4), ppl.toFixed(4), `${name}: ${got}`);
  }
});

// Every SIMD variant computes llama.cpp-zen4's arithmetic, so where this CPU's widest variant is avx512 the avx2 one
// (INFER_REPL_KERNELS caps it) must give its perplexity to the last bit: each chunk is a 128-row batch, through the
// avx2 batch kernels (tile_ksuper_rows.cc for the K-quants) instead of the AVX-512 ones.
const narrower = k.cpuFeatures().variants.includes("avx512") ? ["avx2"] : [];
test(`infer-repl perplexity: the ${narrower.join(", ") || "narrower"} variant gives the widest one's figure bit for bit for each shared stories15M file`,
  { skip: (noShared || narrower.length === 0) && "needs the shared files and a CPU with AVX-512", timeout: 300_000 }, async () => {
    const ppl = async (name: string, env: NodeJS.ProcessEnv) => {
      const r = await runCli(["perplexity", "-m", sharedModel(`${name}.gguf`), "-f", evalText, "-t", "2", "--json"], "", env);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { ppl: number }).ppl;
    };
    for (const name of referencePerplexities().keys()) {
      const widest = await ppl(name, {});
      for (const v of narrower) assert.equal(await ppl(name, { INFER_REPL_KERNELS: v }), widest, `${name}: ${v} against the widest variant`);
    }
  });

test("infer-repl perplexity: -c sets the chunk size; plain output names it", { skip: noShared, timeout: 120_000 }, async () => {
  const r = await runCli(["perplexity", "-m", model, "-f", evalText, "-c", "64"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /perplexity \d+\.\d{4} \(21 chunks of 64 tokens, 651 tokens scored\)/);
});

test("infer-repl perplexity: bad input exits 2 with a message naming the problem", { skip: noShared, timeout: 120_000 }, async () => {
  const short = path.join(dir, "short.txt");
  writeFileSync(short, "Once upon a time.");
  const cases: [string, string[], RegExp][] = [
    ["missing file", ["-f", path.join(dir, "absent.txt")], /cannot read the text file .*absent\.txt: no such file/],
    ["a folder", ["-f", dir], /cannot read the text file .*: it is a folder/],
    ["no -f", [], /required option '-f, --file <path>'/],
    ["text shorter than one chunk", ["-f", short], /fewer than one 128-token chunk/],
    ["chunk size below 4", ["-f", evalText, "-c", "2"], /-c, --ctx-size.*expected an integer from 4/],
  ];
  for (const [what, args, message] of cases) {
    const r = await runCli(["perplexity", "-m", model, ...args]);
    assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.equal(r.stdout, "", what);
  }
});
