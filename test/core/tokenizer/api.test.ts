import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { readGguf } from "../../../core/gguf/index.ts";
import { loadTokenizer, TokenizerError } from "../../../core/tokenizer/index.ts";
import { skipNoVocabs, VOCAB_DIR } from "./fixtures.ts";

const vocab = (name: string) => readGguf(path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`));

test("ids out of range are a TokenizerError naming the id", { skip: skipNoVocabs }, () => {
  const tok = loadTokenizer(vocab("llama-spm"));
  for (const bad of [32000, -1, 1.5, NaN]) {
    assert.throws(() => tok.decode([1, bad]), (e: unknown) => e instanceof TokenizerError && e.message.includes(String(bad)));
    assert.throws(() => tok.createDecoder().push(bad), TokenizerError);
    assert.throws(() => tok.tokenText(bad), TokenizerError);
  }
});

test("BOS/EOS follow the model: SPM adds BOS by default, BERT wraps in CLS/SEP", { skip: skipNoVocabs }, () => {
  const spm = loadTokenizer(vocab("llama-spm"));
  assert.deepEqual([...spm.encode("Hello")], [1, 15043]);
  assert.deepEqual([...spm.encode("Hello", { addSpecial: false })], [15043]);
  assert.deepEqual([...spm.encode("")], [1]);
  const bert = loadTokenizer(vocab("bert-bge"));
  const ids = bert.encode("hello");
  assert.equal(ids[0], 101);
  assert.equal(ids[ids.length - 1], 102);
  // gpt-2 has no add_bos_token key and llama.cpp's BPE default is not to add one.
  assert.deepEqual([...loadTokenizer(vocab("gpt-2")).encode("Hello")], [15496]);
});

test("special tokens are parsed only when asked and rendered only when asked", { skip: skipNoVocabs }, () => {
  const tok = loadTokenizer(vocab("qwen2"));
  const plain = tok.encode("<|im_start|>user", { addSpecial: false });
  const parsed = tok.encode("<|im_start|>user", { addSpecial: false, parseSpecial: true });
  const imStart = parsed[0]!;
  assert.equal(tok.tokenText(imStart), "<|im_start|>");
  assert.ok(!plain.includes(imStart));
  assert.equal(tok.decode(parsed), "user");
  assert.equal(tok.decode(parsed, { renderSpecial: true }), "<|im_start|>user");
});

test("end of generation covers eos and end-of-turn tokens", { skip: skipNoVocabs }, () => {
  const tok = loadTokenizer(vocab("qwen2"));
  const imEnd = tok.encode("<|im_end|>", { addSpecial: false, parseSpecial: true })[0]!;
  assert.ok(tok.isEndOfGeneration(imEnd));
  assert.ok(tok.isEndOfGeneration(tok.eos!));
  assert.ok(!tok.isEndOfGeneration(tok.encode("hi", { addSpecial: false })[0]!));
});

test("unknown tokenizer model or pre-tokenizer is a clear error", { skip: skipNoVocabs }, () => {
  const src = vocab("gpt-2");
  const rewrite = (key: string, value: string) => ({ ...src, metadata: new Map(src.metadata).set(key, value) });
  assert.throws(() => loadTokenizer(rewrite("tokenizer.ggml.pre", "no-such-pre")), /unsupported pre-tokenizer 'no-such-pre'/);
  assert.throws(() => loadTokenizer(rewrite("tokenizer.ggml.model", "t5x")), /unsupported tokenizer model 't5x'/);
});
