import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { readGguf } from "../../../core/gguf/index.ts";
import { loadTokenizer, type Tokenizer } from "../../../core/tokenizer/index.ts";
import { skipNoVocabs, VOCAB_DIR, vocabFiles } from "./fixtures.ts";
import { mulberry32, randomText } from "./random-text.ts";

const SEQUENCES = 400;

/** Random ids, encoded random text, and text pieces cut mid-character, mixed. */
function randomIds(tok: Tokenizer, rand: () => number): number[] {
  const ids: number[] = [];
  const parts = 1 + Math.floor(rand() * 6);
  for (let p = 0; p < parts; p++) {
    if (rand() < 0.4) {
      for (let n = Math.floor(rand() * 12); n > 0; n--) ids.push(Math.floor(rand() * tok.vocabSize));
    } else ids.push(...tok.encode(randomText(rand), { addSpecial: rand() < 0.3, parseSpecial: rand() < 0.5 }));
  }
  return ids;
}

function streamed(tok: Tokenizer, ids: number[], renderSpecial: boolean): string {
  const d = tok.createDecoder({ renderSpecial });
  let s = "";
  for (const id of ids) s += d.push(id);
  return s + d.flush();
}

for (const file of vocabFiles().length ? vocabFiles() : ["(vocab fixtures)"]) {
  test(`streaming detokenization equals whole-sequence detokenization: ${file}`, { skip: skipNoVocabs }, () => {
    const tok = loadTokenizer(readGguf(path.join(VOCAB_DIR, file)));
    const rand = mulberry32(0xdec0de + file.length);
    for (let i = 0; i < SEQUENCES; i++) {
      const ids = randomIds(tok, rand);
      for (const renderSpecial of [false, true]) {
        assert.equal(streamed(tok, ids, renderSpecial), tok.decode(ids, { renderSpecial }), `ids ${JSON.stringify(ids)}`);
      }
    }
  });
}

test("streaming never emits half of a character split across byte tokens", { skip: skipNoVocabs }, () => {
  const tok = loadTokenizer(readGguf(path.join(VOCAB_DIR, "ggml-vocab-llama-spm.gguf")));
  const ids = tok.encode("a€😀b", { addSpecial: false });
  const d = tok.createDecoder();
  const outputs = [...ids].map((id) => d.push(id));
  outputs.push(d.flush());
  assert.equal(outputs.join(""), "a€😀b");
  for (const o of outputs) assert.ok(!o.includes("\ufffd"), `emitted ${JSON.stringify(outputs)}`);
});

test("streaming holds back spaces that clean-up may still remove", { skip: skipNoVocabs }, () => {
  const tok = loadTokenizer(readGguf(path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf")));
  const ids = [...tok.encode("Hello , world ?", { addSpecial: false })];
  assert.equal(streamed(tok, ids, false), "Hello, world?");
  assert.equal(tok.decode(ids), "Hello, world?");
});

test("streaming with space clean-up still emits text that has no ASCII letters as it arrives", { skip: skipNoVocabs }, () => {
  const tok = loadTokenizer(readGguf(path.join(VOCAB_DIR, "ggml-vocab-llama-bpe.gguf")));
  const text = "你好，世界。这是一个测试！😀😀";
  const ids = [...tok.encode(text, { addSpecial: false })];
  const d = tok.createDecoder();
  let before = "";
  for (const id of ids) before += d.push(id);
  assert.equal(before + d.flush(), text);
  assert.equal(before, text, "nothing should wait for flush");
});
