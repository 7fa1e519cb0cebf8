import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { readGguf } from "../../../core/gguf/index.ts";
import { loadTokenizer } from "../../../core/tokenizer/index.ts";
import { skipNoVocabs, VOCAB_DIR, vocabFiles } from "./fixtures.ts";
import { mulberry32, randomText } from "./random-text.ts";

const CASES = 2000;

// Random text must tokenize to llama.cpp's ids (node-llama-cpp's tokenize adds no BOS), and those ids must
// detokenize to llama.cpp's text, which is the input again wherever llama.cpp round-trips it.
for (const file of vocabFiles().length ? vocabFiles() : ["(vocab fixtures)"]) {
  test(`matches llama.cpp on ${CASES} random texts: ${file}`, { skip: skipNoVocabs }, async () => {
    const modelPath = path.join(VOCAB_DIR, file);
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.disabled });
    const model = await llama.loadModel({ modelPath, vocabOnly: true });
    try {
      const tok = loadTokenizer(readGguf(modelPath));
      const rand = mulberry32(0x5eed + file.length);
      for (let i = 0; i < CASES; i++) {
        const text = randomText(rand);
        const expected = Array.from(model.tokenize(text), Number);
        const ids = [...tok.encode(text, { addSpecial: false })];
        assert.deepEqual(ids, expected, `encode ${JSON.stringify(text)}`);
        assert.equal(tok.decode(ids), model.detokenize(model.tokenize(text)), `decode of ${JSON.stringify(text)}`);
        const special = Array.from(model.tokenize(text, true), Number);
        assert.deepEqual([...tok.encode(text, { addSpecial: false, parseSpecial: true })], special, `encode (special) ${JSON.stringify(text)}`);
        assert.equal(tok.decode(special, { renderSpecial: true }), model.detokenize(special as never, true), `decode (special) ${JSON.stringify(text)}`);
      }
      // Arbitrary id sequences (byte tokens out of order, control tokens, ...) detokenize as llama.cpp does.
      for (let i = 0; i < CASES / 4; i++) {
        const ids = Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * tok.vocabSize));
        for (const special of [false, true]) {
          assert.equal(tok.decode(ids, { renderSpecial: special }), model.detokenize(ids as never, special), `decode ${JSON.stringify(ids)} special=${special}`);
        }
      }
    } finally {
      await model.dispose();
    }
  });
}
