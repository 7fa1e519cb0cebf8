import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { readGguf } from "../../../core/gguf/index.ts";
import { loadTokenizer } from "../../../core/tokenizer/index.ts";
import { skipNoVocabs, VOCAB_DIR, vocabCases, vocabFiles } from "./fixtures.ts";

// llama.cpp's test-tokenizer-0 tokenizes without BOS/EOS and without parsing special tokens.
for (const file of vocabFiles().length ? vocabFiles() : ["(vocab fixtures)"]) {
  test(`llama.cpp tokenizer vectors: ${file}`, { skip: skipNoVocabs }, () => {
    const tok = loadTokenizer(readGguf(path.join(VOCAB_DIR, file)));
    for (const { text, ids } of vocabCases(file)) {
      assert.deepEqual([...tok.encode(text, { addSpecial: false })], ids, `input ${JSON.stringify(text)}`);
    }
  });
}
