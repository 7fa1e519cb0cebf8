// K/V memory of a model with sliding-window layers: the blocks a sequence holds after a long prompt and a short
// generation, with every position of every layer kept (swaFullCache, the old layout and llama.cpp's --swa-full)
// and with the window layers' own blocks (only the window). Deterministic counts, not timings: both runs in one
// process; greedy tokens must agree.
//   usage: npx tsx bench/kv-window.ts [--prompt 2048] [-n 64] [--threads 2] file.gguf
import { parseArgs } from "node:util";
import { Engine } from "../core/engine.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { prompt: { type: "string", default: "2048" }, n: { type: "string", short: "n", default: "64" }, threads: { type: "string", default: "2" } },
});
const file = positionals[0];
if (!file) throw new Error("usage: npx tsx bench/kv-window.ts [--prompt 2048] [-n 64] file.gguf");
const nPrompt = Number(values.prompt), nGen = Number(values.n);

async function run(swaFullCache: boolean) {
  const e = await Engine.load({ model: file!, threads: Number(values.threads), contextSize: nPrompt + nGen, swaFullCache });
  try {
    if (!e.window && !swaFullCache) throw new Error(`${file} has no sliding-window layers kept apart`);
    const vocab = e.model.hparams.nVocab;
    const prompt = Array.from({ length: nPrompt }, (_, i) => 100 + ((i * 7919) % (vocab - 100)));
    let held = 0, mostWindow = 0;
    e.onStep(() => {
      const s = e.stats();
      held = s.kvBytesUsed || held; // the last step ends the sequence (0 held after it)
      mostWindow = Math.max(mostWindow, s.windowBlocks?.used ?? 0);
    });
    const r = await e.generate(prompt, { temperature: 0, ignoreEos: true, maxTokens: nGen });
    const s = e.stats();
    return { tokens: r.tokens, held, mostWindow, main: s.blocks.total, window: s.windowBlocks?.total ?? 0 };
  } finally {
    e.close();
  }
}

const full = await run(true), windowed = await run(false);
if (full.tokens.join() !== windowed.tokens.join()) throw new Error("the two layouts generated different tokens");
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
console.log(`${nPrompt + nGen - 1} positions computed; K/V held at the last step:`);
console.log(`  every position kept: ${mib(full.held)} MiB (pool: ${full.main} blocks of all layers)`);
console.log(`  window layers apart: ${mib(windowed.held)} MiB (${(full.held / windowed.held).toFixed(2)}x less; pools: ${windowed.main} main blocks, ${windowed.window} window blocks, at most ${windowed.mostWindow} window blocks held)`);
