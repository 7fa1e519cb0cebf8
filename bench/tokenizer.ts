/**
 * Tokenizer throughput vs llama.cpp (node-llama-cpp's model.tokenize) on the same 1 MB of mixed English and code.
 * Runs alternate ours / llama.cpp; each of our runs uses a freshly loaded tokenizer so the word cache starts
 * cold, as it would for a new process. Reports the median of per-pair time ratios (ours / llama.cpp).
 * Usage: node --expose-gc --import tsx bench/tokenizer.ts [vocab names...]   (default: llama-spm llama-bpe)
 * (--expose-gc lets each timed run start after collecting the previous tokenizer, not during it.)
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { readGguf } from "../core/gguf/index.ts";
import { loadTokenizer } from "../core/tokenizer/index.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const VOCAB_DIR = path.resolve(ROOT, "../shared/fixtures/vocab");
const TARGET_BYTES = 1 << 20;
const PAIRS = 7;

/** Half English prose (package READMEs), half code (TypeScript's lib declarations), in a fixed order. */
function corpus(): string {
  const modules = path.join(ROOT, "node_modules");
  const take = (files: string[], bytes: number) => {
    let s = "";
    for (const f of files) {
      if (Buffer.byteLength(s) >= bytes) break;
      s += readFileSync(f, "utf8") + "\n";
    }
    return s.slice(0, bytes);
  };
  const readmes = readdirSync(modules).sort().flatMap((m) => {
    try {
      return readdirSync(path.join(modules, m)).filter((f) => /^readme\.md$/i.test(f)).map((f) => path.join(modules, m, f));
    } catch {
      return [];
    }
  });
  const lib = path.join(modules, "typescript/lib");
  const decls = readdirSync(lib).filter((f) => /^lib\..*\.d\.ts$/.test(f)).sort().map((f) => path.join(lib, f));
  return take(readmes, TARGET_BYTES / 2) + take(decls, TARGET_BYTES / 2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const text = corpus();
console.log(`corpus: ${Buffer.byteLength(text)} bytes`);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.disabled });
for (const name of process.argv.slice(2).length ? process.argv.slice(2) : ["llama-spm", "llama-bpe"]) {
  const file = path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);
  const gguf = readGguf(file);
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  const ratios: number[] = [], oursMs: number[] = [], theirsMs: number[] = [];
  let tokens = 0;
  for (let i = 0; i < PAIRS; i++) {
    const tok = loadTokenizer(gguf);
    (globalThis as { gc?: () => void }).gc?.();
    let t = performance.now();
    const ours = tok.encode(text, { addSpecial: false });
    const a = performance.now() - t;
    t = performance.now();
    const theirs = model.tokenize(text);
    const b = performance.now() - t;
    if (ours.length !== theirs.length || ours.some((id, k) => id !== theirs[k])) throw new Error(`${name}: tokens differ from llama.cpp's`);
    tokens = ours.length;
    oursMs.push(a);
    theirsMs.push(b);
    ratios.push(a / b);
  }
  await model.dispose();
  console.log(`${name}: ${tokens} tokens; ours median ${median(oursMs).toFixed(0)} ms, llama.cpp median ${median(theirsMs).toFixed(0)} ms; ` +
    `median time ratio ours/llama.cpp ${median(ratios).toFixed(2)} (${PAIRS} pairs)`);
}
