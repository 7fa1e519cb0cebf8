// Speculative decoding speed: greedy decode tokens/s of infer-repl's plain decode of the target against its
// speculative decode with a draft model, with n-gram lookup (on a prompt that continues a repeated passage) and
// with self-drafting, and llama.cpp's llama-speculative on the same target/draft pair. Rounds alternate all
// variants; ratios are medians of the per-round ratios (the machine is shared and noisy).
//   usage: npx tsx bench/speculative.ts [--rounds 5] [--threads 2] [-n 128] [--k 4] [--ngram-k 8] [--target F] [--draft F]
import { spawnSync } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { Engine } from "../core/engine.ts";
import { Model } from "../core/model/model.ts";
import type { SpeculativeOptions } from "../core/speculative/options.ts";
import { fmt, llamaCppTools, median, model } from "./lib.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    n: { type: "string", short: "n", default: "128" },
    k: { type: "string", default: "4" },
    "ngram-k": { type: "string", default: "8" },
    target: { type: "string", default: model("stories15M-f32.gguf") },
    draft: { type: "string", default: model("stories15M-q4_0.gguf") },
    "self-layers": { type: "string", default: "2,3,4" },
  },
});
const rounds = Number(values.rounds), threads = Number(values.threads), n = Number(values.n), k = Number(values.k);
const ngramK = Number(values["ngram-k"]);
const PROMPT = "Once upon a time";

const engine = await Engine.load({ model: values.target, draftModel: values.draft, threads, contextSize: 1024 });
// The draft model's reduced head learns the vocabulary of the text it drafts for (core/speculative/
// draft-vocabulary.ts) and is used once new tokens become rare. The warm-up stories stand for a session's earlier
// traffic; the measured rounds repeat one story, which teaches it that story's tokens, so "draft kK" shows the
// learned head at its best and "draft kK full head" the cold case (every draft over the whole vocabulary).
const WARM_UP = ["Lily and Ben went to the park.", "Tom had a big red ball.", "One day, a little bird", "The sun was shining and"];
for (const prompt of WARM_UP) await engine.generate(prompt, { temperature: 0, maxTokens: 128, speculative: { mode: "draft", k } });
const decode = async (prompt: string, speculative?: SpeculativeOptions) => {
  const r = await engine.generate(prompt, { temperature: 0, maxTokens: n, ignoreEos: true, speculative });
  return { tps: r.stats.decodeTokensPerS, accept: r.stats.specAcceptRate ?? 0, perStep: r.stats.specTokensPerStep ?? 1, head: speculative?.mode === "draft" ? r.stats.specDraftHead ?? 0 : undefined };
};

// A prompt that restates a passage and starts it again: the continuation repeats it, which n-gram lookup finds.
// The passage is 100 tokens so that it, its restart and the n generated tokens stay near the 256 positions
// stories15M was trained on; past them the model's text degrades and stops repeating anything (a 160-token
// passage gave 1.3x for that reason alone).
const passage = PROMPT + (await engine.generate(PROMPT, { temperature: 0, maxTokens: 100 })).text;
const repeatPrompt = `${passage}\n${PROMPT}`;

const tools = llamaCppTools();
function llamaSpeculative(): number {
  const r = spawnSync(path.join(tools, "llama-speculative"), [
    "-m", values.target, "-md", values.draft, "-p", PROMPT, "-n", String(n), "-t", String(threads),
    "--spec-draft-n-max", String(k), "--temp", "0", "-c", "1024", "--ignore-eos",
  ], { encoding: "utf8", maxBuffer: 64 << 20 });
  // Its timing report goes to stderr: "decoded N tokens in S seconds, speed: X t/s".
  const m = /decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t\/s/.exec(r.stderr + r.stdout);
  if (r.status !== 0 || !m) throw new Error(`llama-speculative failed (${r.status}) or printed no speed line: ${r.stderr.slice(-500)}`);
  return Number(m[3]);
}

type Row = { tps: number; accept: number; perStep: number; head?: number };
const variants: [string, () => Promise<Row>][] = [
  ["plain", () => decode(PROMPT)],
  [`draft k${k}`, () => decode(PROMPT, { mode: "draft", k })],
  [`draft k${k} full head`, () => decode(PROMPT, { mode: "draft", k, draftHead: "full" })],
  ["llama-speculative", async () => ({ tps: llamaSpeculative(), accept: NaN, perStep: NaN })],
  ["plain (repeat prompt)", () => decode(repeatPrompt)],
  [`ngram k${ngramK}`, () => decode(repeatPrompt, { mode: "ngram", k: ngramK })],
  ...values["self-layers"].split(",").map((l): [string, () => Promise<Row>] => [`self:${l} k4`, () => decode(PROMPT, { mode: "self", layers: Number(l), k: 4 })]),
];
const results = new Map<string, Row[]>(variants.map(([name]) => [name, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of variants) results.get(name)!.push(await fn());
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}

const base = (name: string) => (name.startsWith("ngram") || name.includes("repeat") ? "plain (repeat prompt)" : "plain");
console.log(`target ${path.basename(values.target)}, draft ${path.basename(values.draft)}, greedy, n ${n}, threads ${threads}, ${rounds} alternating rounds (medians)`);
console.log(`(the draft vocabulary was warmed by ${WARM_UP.length} greedy stories from other prompts before round 1)`);
console.log("variant                  tokens/s  vs plain  accept  tokens/step  draft head");
for (const [name, rows] of results) {
  const ratio = median(rows.map((x, i) => x.tps / results.get(base(name))![i]!.tps));
  const head = rows[rows.length - 1]!.head;
  console.log(`${name.padEnd(24)} ${fmt(median(rows.map((x) => x.tps))).padStart(8)}  ${fmt(ratio, 2).padStart(7)}x  ${fmt(median(rows.map((x) => x.accept)), 2).padStart(6)}  ${fmt(median(rows.map((x) => x.perStep)), 2).padStart(6)}       ${head === undefined ? "" : head === 0 ? "full" : `${head} tokens`}`);
}
// Why: the cost of one forward over T tokens (all with logits, as a verify step) for the target and the draft.
// Speculation pays off only when a (k+1)-row verify costs far less than k+1 one-row forwards and the draft is cheap.
async function forwardMs(file: string, t: number, reps: number): Promise<number> {
  const m = Model.load(file), kv = m.createKvCache(4, 16, "f16"), vocab = m.hparams.nVocab;
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await m.forward(kv, {
      tokens: Int32Array.from({ length: t }, (_, j) => 100 + j), positions: Int32Array.from({ length: t }, (_, j) => j),
      seqIds: new Int32Array(t), blockTables: Int32Array.of(0, 1, 2, 3), tableOffsets: Int32Array.of(0, 4),
      logitRows: Int32Array.from({ length: t }, (_, j) => j), logits: new Float32Array(t * vocab),
    });
    times.push(performance.now() - start);
  }
  return median(times);
}
const costs: string[] = [];
for (const [name, file] of [["target", values.target], ["draft", values.draft]] as const) {
  for (const t of [1, k + 1]) costs.push(`${name} T=${t}: ${fmt(await forwardMs(file, t, 15), 1)} ms`);
}
console.log(`one forward, all rows with logits (medians of 15): ${costs.join(", ")}`);

const theirs = results.get("llama-speculative")!;
for (const name of [`draft k${k}`, `draft k${k} full head`]) {
  const ours = results.get(name)!;
  console.log(`infer-repl ${name} / llama-speculative: ${fmt(median(ours.map((x, i) => x.tps / theirs[i]!.tps)), 2)}x`);
}
