// Early exit on a small model: for a sweep of thresholds (exit points at layers 2..n-1) and two confidence heads
// (the full output head, and the head rows of the N most frequent tokens), reports decode tokens/s against full
// depth (alternating, median of per-round ratios), mean layers used, greedy agreement with full depth over the
// reference prompts, and perplexity on eval-stories.txt (llama.cpp's method, decoded token by token so exits
// happen as in generation). It also times one-token forwards cut at 1..n layers: the intercept of that line is
// the output head's cost, which bounds what skipping layers can save.
//   usage: npx tsx bench/early-exit.ts [--rounds 3] [--threads 2] [-n 128] [--thresholds 0.99,0.9,0.8,0.6] [--heads 0,1024]
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { perplexity } from "../core/perplexity.ts";
import { stepwiseScorer } from "../core/earlyexit/stepwise-scorer.ts";
import { Engine } from "../core/engine.ts";
import type { ExitPoint } from "../core/earlyexit/options.ts";
import { fmt, median, medianRatio, model, sharedDir } from "./lib.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    n: { type: "string", short: "n", default: "128" },
    thresholds: { type: "string", default: "0.99,0.9,0.8,0.6" },
    heads: { type: "string", default: "0,1024" },
    model: { type: "string", default: model("stories15M-f32.gguf") },
  },
});
const rounds = Number(values.rounds), threads = Number(values.threads), n = Number(values.n);
const PROMPT = "Once upon a time";
const references = (JSON.parse(readFileSync(path.join(sharedDir, "reference/llama-cpp-greedy.json"), "utf8")) as { results: { model: string; prompt: string }[] })
  .results.filter((r) => r.model === path.basename(values.model)).map((r) => r.prompt);
const evalText = readFileSync(path.join(sharedDir, "reference/eval-stories.txt"), "utf8");

const heads = values.heads.split(",").map(Number);
const engines = new Map<number, Engine>();
for (const h of heads) engines.set(h, await Engine.load({ model: values.model, threads, earlyExitHead: h, contextSize: 512 }));
const base = engines.get(heads[0]!)!;
const nLayer = base.model.hparams.nLayer, vocab = base.model.hparams.nVocab;

// --- Cost of a one-token forward cut at L layers: t(L) ~ head + L * layer. The cuts are interleaved (round
// robin) so that the machine's drift hits them all alike; medians per cut.
async function forwardCosts(reps: number): Promise<number[]> {
  const kv = base.model.createKvCache(4, 16, "f16");
  const logits = new Float32Array(vocab);
  const times: number[][] = Array.from({ length: nLayer }, () => []);
  for (let i = 0; i < reps; i++) {
    for (let l = 1; l <= nLayer; l++) {
      const t = performance.now();
      await base.model.forward(kv, {
        tokens: Int32Array.of(100 + i), positions: Int32Array.of(i % 48), seqIds: Int32Array.of(0), blockTables: Int32Array.of(0, 1, 2),
        tableOffsets: Int32Array.of(0, 3), logitRows: Int32Array.of(0), logits, nLayers: l,
      });
      times[l - 1]!.push(performance.now() - t);
    }
  }
  return times.map(median);
}
const cut = await forwardCosts(60);
const perLayer = (cut[nLayer - 1]! - cut[0]!) / (nLayer - 1), head = cut[0]! - perLayer;
const { nEmbd, nFf, nHead, nHeadKv, headDim } = base.model.hparams;
const layerMacs = nEmbd * (2 * nHead * headDim + 2 * nHeadKv * headDim) + 3 * nEmbd * nFf, headMacs = nEmbd * vocab;
console.log(`one-token forward cut at 1..${nLayer} layers (ms, medians of 60, interleaved): ${cut.map((x) => fmt(x, 2)).join(" ")}`);
console.log(`  => per layer ${fmt(perLayer, 2)} ms, embedding + final norm + head ${fmt(head, 2)} ms (${fmt((100 * head) / cut[nLayer - 1]!, 0)}% of a token)`);
console.log(`  multiply-adds: head ${headMacs} (${fmt((100 * headMacs) / (headMacs + nLayer * layerMacs), 0)}% of a token), each layer ${layerMacs}`);

// --- Settings.
interface Setting { name: string; head: number; exits?: ExitPoint[] }
const exitLayers = Array.from({ length: nLayer - 2 }, (_, i) => i + 2);
const settings: Setting[] = [{ name: "full depth", head: heads[0]! }];
for (const h of heads) {
  for (const t of values.thresholds.split(",").map(Number)) {
    settings.push({ name: `${exitLayers.map((l) => `${l}:${t}`).join(",")} head ${h || "full"}`, head: h, exits: exitLayers.map((layer) => ({ layer, threshold: t })) });
  }
}

async function decodeTps(s: Setting): Promise<{ tps: number; layers: number }> {
  const r = await engines.get(s.head)!.generate(PROMPT, { temperature: 0, maxTokens: n, ignoreEos: true, earlyExit: s.exits });
  return { tps: r.stats.decodeTokensPerS, layers: r.stats.earlyExitMeanLayers ?? nLayer };
}

async function agreement(s: Setting, fullTokens: number[][]): Promise<{ tokens: number; prefix: number; layers: number }> {
  let same = 0, total = 0, prefix = 0, layers = 0;
  for (const [i, p] of references.entries()) {
    const r = await engines.get(s.head)!.generate(p, { temperature: 0, maxTokens: 64, ignoreEos: true, earlyExit: s.exits });
    const f = fullTokens[i]!;
    let k = 0;
    while (k < f.length && r.tokens[k] === f[k]) k++;
    prefix += k;
    for (let j = 0; j < f.length; j++) if (r.tokens[j] === f[j]) same++;
    total += f.length;
    layers += r.stats.earlyExitMeanLayers ?? nLayer;
  }
  return { tokens: same / total, prefix: prefix / references.length, layers: layers / references.length };
}

// Perplexity with one-token forwards carrying the exit plan, as generation runs them.
async function ppl(s: Setting): Promise<number> {
  const scorer = stepwiseScorer(engines.get(s.head)!, { contextSize: 128, kvType: "f16", earlyExit: s.exits });
  return (await perplexity(scorer, evalText, { contextSize: 128 })).ppl;
}

const fullTokens: number[][] = [];
for (const p of references) fullTokens.push((await base.generate(p, { temperature: 0, maxTokens: 64, ignoreEos: true })).tokens);

const quality = new Map<Setting, { agree: Awaited<ReturnType<typeof agreement>>; ppl: number }>();
for (const s of settings) {
  quality.set(s, { agree: await agreement(s, fullTokens), ppl: await ppl(s) });
  process.stderr.write(`quality: ${s.name} done\n`);
}
const speed = new Map<Setting, { tps: number; layers: number }[]>(settings.map((s) => [s, []]));
for (let r = 0; r < rounds; r++) {
  for (const s of settings) speed.get(s)!.push(await decodeTps(s));
  process.stderr.write(`speed round ${r + 1}/${rounds} done\n`);
}

const fullPpl = quality.get(settings[0]!)!.ppl;
const plain = speed.get(settings[0]!)!;
console.log(`\n${path.basename(values.model)}, greedy, n ${n}, threads ${threads}, ${rounds} alternating rounds (medians); agreement over ${references.length} reference prompts x 64 tokens`);
console.log("setting                                   tok/s  vs full  layers  agree(tok)  agree(prefix)  ppl     dppl");
let best: { name: string; ratio: number } | undefined;
for (const s of settings) {
  const sp = speed.get(s)!, q = quality.get(s)!;
  const ratio = medianRatio(sp.map((x) => x.tps), plain.map((x) => x.tps));
  const dppl = q.ppl / fullPpl - 1;
  if (s.exits && dppl <= 0.02 && (!best || ratio > best.ratio)) best = { name: s.name, ratio };
  console.log(`${s.name.padEnd(40)} ${fmt(median(sp.map((x) => x.tps))).padStart(6)}  ${fmt(ratio, 2).padStart(6)}x  ${fmt(q.agree.layers, 2).padStart(5)}  ${fmt(100 * q.agree.tokens).padStart(8)}%  ${fmt(q.agree.prefix).padStart(10)}/64  ${fmt(q.ppl, 3).padStart(6)}  ${fmt(100 * dppl).padStart(5)}%`);
}
console.log(best ? `best speedup with perplexity within +2%: ${fmt(best.ratio, 2)}x (${best.name})` : "no setting keeps perplexity within +2%");
