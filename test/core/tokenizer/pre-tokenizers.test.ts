import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { readGguf, writeGguf } from "../../../core/gguf/index.ts";
import { loadTokenizer } from "../../../core/tokenizer/index.ts";
import { skipNoVocabs, VOCAB_DIR } from "./fixtures.ts";
import { mulberry32, randomText } from "./random-text.ts";

/**
 * Pre-tokenizers without a vocabulary among the fixtures: the gpt-2 vocabulary relabelled with each
 * tokenizer.ggml.pre value, so both llama.cpp and this port split with that pre-tokenizer's regexes.
 * One name per distinct regex list or flag set.
 */
const PRES = ["default", "dbrx", "jais-2", "deepseek-v3", "command-r", "refact", "qwen35", "stablelm2", "poro-chat",
  "bloom", "viking", "glm4", "tekken", "chameleon", "gpt-4o", "bailingmoe", "seed-coder", "ufakzeka", "laguna",
  "minicpm5", "exaone-moe", "smollm"];
const CASES = 300;

test("pre-tokenizers match llama.cpp on random text", { skip: skipNoVocabs }, async (t) => {
  const src = readGguf(path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf"));
  const dir = mkdtempSync(path.join(tmpdir(), "pre-"));
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.disabled });
  try {
    for (const pre of PRES) {
      await t.test(pre, async () => {
        const file = path.join(dir, `${pre}.gguf`);
        writeGguf(file, { metadata: new Map(src.metadata).set("tokenizer.ggml.pre", pre), tensors: [] });
        const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
        try {
          const tok = loadTokenizer(readGguf(file));
          const rand = mulberry32(0x9e + pre.length);
          for (let i = 0; i < CASES; i++) {
            const text = randomText(rand);
            const expected = Array.from(model.tokenize(text), Number);
            assert.deepEqual([...tok.encode(text, { addSpecial: false })], expected, `encode ${JSON.stringify(text)}`);
            assert.equal(tok.decode(expected), model.detokenize(expected as never), `decode ${JSON.stringify(text)}`);
          }
        } finally {
          await model.dispose();
        }
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
