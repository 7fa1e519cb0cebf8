import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../fs/write-file-atomic.ts";
import { encodeGguf, GgmlType, GgufValueType, type GgufContents, type TensorToWrite, type TypedValue } from "../gguf/index.ts";

/**
 * Converts a llama2.c checkpoint (`model.bin`, legacy "version 0" export) and its `tokenizer.bin` into a GGUF
 * file laid out exactly like llama.cpp's convert-llama2c-to-ggml output: same metadata keys, types and order,
 * same tensor names and order, F32 data copied as is (llama2.c already stores Q/K in the interleaved-RoPE
 * order llama.cpp uses, so no permutation is needed).
 */

/** A llama2.c file that cannot be converted; the message names the file and what was wrong. */
export class Llama2cFormatError extends Error {
  constructor(readonly file: string, readonly detail: string) {
    super(`${file}: ${detail}`);
    this.name = "Llama2cFormatError";
  }
}

export interface Llama2cConfig {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly vocabSize: number;
  readonly seqLen: number;
  /** llama2.c marks an unshared classifier (a trailing wcls tensor) with a negative vocab_size. */
  readonly sharedClassifier: boolean;
}

/** Little-endian F32 weights as byte views into the checkpoint; per-layer tensors are stacked [nLayers, ...]. */
interface Llama2cWeights {
  tokenEmbedding: Uint8Array;
  rmsAtt: Uint8Array; wq: Uint8Array; wk: Uint8Array; wv: Uint8Array; wo: Uint8Array;
  rmsFfn: Uint8Array; w1: Uint8Array; w2: Uint8Array; w3: Uint8Array;
  rmsFinal: Uint8Array;
  wcls: Uint8Array | undefined;
}

export interface Llama2cCheckpoint { readonly config: Llama2cConfig; readonly weights: Llama2cWeights }

export interface Llama2cVocab {
  readonly tokens: string[];
  readonly scores: Float32Array;
  readonly types: Int32Array;
}

const HEADER_BYTES = 7 * 4;
const F32 = 4;
/** Guards against headers whose products overflow or describe absurd models before any size arithmetic. */
const MAX_HEADER_VALUE = 1 << 24;

/** llama.cpp's token types (llama_token_type). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
const UNK_ID = 0, BOS_ID = 1, EOS_ID = 2, FIRST_BYTE_ID = 3;
/** No separator or padding token: llama.cpp's converter writes -1 as a uint32. */
const NO_TOKEN = 0xffffffff;
/**
 * llama.cpp's converter writes its own default context (2048), not llama2.c's seq_len, as the published
 * stories15M GGUFs show; keeping it makes our output byte-identical to theirs.
 */
export const LLAMA_CPP_DEFAULT_CONTEXT = 2048;
const RMS_EPS = 1e-5;

export function parseLlama2cCheckpoint(bytes: Uint8Array, file: string): Llama2cCheckpoint {
  const fail = (detail: string): never => { throw new Llama2cFormatError(file, detail); };
  if (bytes.length < HEADER_BYTES) fail(`too short for a llama2.c checkpoint header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] =
    Array.from({ length: 7 }, (_, i) => view.getInt32(i * 4, true)) as [number, number, number, number, number, number, number];
  const vocabSize = Math.abs(rawVocab);
  const header = { dim, hidden_dim: hiddenDim, n_layers: nLayers, n_heads: nHeads, n_kv_heads: nKvHeads, vocab_size: vocabSize, seq_len: seqLen };
  for (const [name, v] of Object.entries(header)) {
    if (v < 1 || v > MAX_HEADER_VALUE) fail(`header ${name} = ${v} is out of range; not a llama2.c checkpoint?`);
  }
  if (dim % nHeads !== 0) fail(`dim ${dim} is not a multiple of n_heads ${nHeads}`);
  if (nHeads % nKvHeads !== 0) fail(`n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  const headSize = dim / nHeads;
  if (headSize % 2 !== 0) fail(`head size ${headSize} is odd; RoPE needs pairs`);
  const kvDim = nKvHeads * headSize;
  const config: Llama2cConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier: rawVocab > 0 };

  // Element counts in file order; freq_cis_real/imag are precomputed RoPE tables of the legacy format, skipped.
  const layout: [keyof Llama2cWeights | "freqCis", number][] = [
    ["tokenEmbedding", vocabSize * dim],
    ["rmsAtt", nLayers * dim], ["wq", nLayers * dim * dim], ["wk", nLayers * dim * kvDim],
    ["wv", nLayers * dim * kvDim], ["wo", nLayers * dim * dim],
    ["rmsFfn", nLayers * dim], ["w1", nLayers * hiddenDim * dim], ["w2", nLayers * dim * hiddenDim],
    ["w3", nLayers * hiddenDim * dim],
    ["rmsFinal", dim],
    ["freqCis", seqLen * headSize],
  ];
  if (!config.sharedClassifier) layout.push(["wcls", vocabSize * dim]);
  const expected = HEADER_BYTES + layout.reduce((sum, [, n]) => sum + n * F32, 0);
  if (bytes.length !== expected) {
    fail(`size ${bytes.length} bytes does not match its header (${JSON.stringify(header)}${config.sharedClassifier ? "" : ", unshared classifier"}), ` +
      `which needs ${expected} bytes`);
  }

  const weights: Partial<Llama2cWeights> = { wcls: undefined };
  let offset = HEADER_BYTES;
  for (const [name, n] of layout) {
    if (name !== "freqCis") weights[name] = bytes.subarray(offset, offset + n * F32);
    offset += n * F32;
  }
  return { config, weights: weights as Llama2cWeights };
}

export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize: number, file: string): Llama2cVocab {
  const fail = (detail: string): never => { throw new Llama2cFormatError(file, detail); };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // ignoreBOM keeps a leading U+FEFF: token 30143 of the llama vocab is exactly that character.
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let pos = 0;
  const need = (n: number, what: string) => {
    if (pos + n > bytes.length) fail(`ends inside ${what} (offset ${pos}, ${bytes.length} bytes); it should hold ${vocabSize} tokens`);
  };
  need(4, "the header");
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength < 1 || maxTokenLength > 1 << 16) fail(`max_token_length ${maxTokenLength} is out of range; not a llama2.c tokenizer?`);
  pos = 4;

  const tokens: string[] = new Array(vocabSize);
  const scores = new Float32Array(vocabSize);
  const types = new Int32Array(vocabSize);
  for (let id = 0; id < vocabSize; id++) {
    need(8, `token ${id}`);
    const score = view.getFloat32(pos, true);
    const len = view.getInt32(pos + 4, true);
    pos += 8;
    if (len < 0 || len > maxTokenLength) fail(`token ${id} has length ${len} (max_token_length is ${maxTokenLength})`);
    need(len, `token ${id}`);
    let text: string;
    try {
      text = utf8.decode(bytes.subarray(pos, pos + len));
    } catch {
      return fail(`token ${id} is not valid UTF-8`);
    }
    pos += len;
    const classified = classifyToken(id, text);
    tokens[id] = classified.text.replaceAll(" ", "\u2581"); // SentencePiece's visible space, as llama.cpp stores it
    scores[id] = score;
    types[id] = classified.type;
  }
  if (pos !== bytes.length) fail(`has ${bytes.length - pos} bytes after its ${vocabSize} tokens; does it belong to this checkpoint?`);
  return { tokens, scores, types };
}

/** llama.cpp's rules: fixed texts for unk/bos/eos (llama2.c wrote "\n<s>\n"), empty = control, <0xHH> = byte. */
function classifyToken(id: number, text: string): { text: string; type: number } {
  if (id === UNK_ID) return { text: "<unk>", type: TOKEN_TYPE.unknown };
  if (id === BOS_ID) return { text: "<s>", type: TOKEN_TYPE.control };
  if (id === EOS_ID) return { text: "</s>", type: TOKEN_TYPE.control };
  if (text === "") return { text, type: TOKEN_TYPE.control };
  if (/^<0x[0-9A-F]{2}>$/.test(text)) return { text, type: TOKEN_TYPE.byte };
  // llama2.c's first tokenizer export wrote byte-fallback tokens as the character U+00HH; they sit at ids
  // 3..258 (run.c maps byte b to id b + 3). Restore SentencePiece's spelling.
  const byte = id - FIRST_BYTE_ID;
  if (byte >= 0 && byte < 256 && text === String.fromCharCode(byte)) {
    return { text: `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`, type: TOKEN_TYPE.byte };
  }
  return { text, type: TOKEN_TYPE.normal };
}

export interface Llama2cToGgufOptions {
  /** Written as llama.context_length; defaults to llama.cpp's converter default (see LLAMA_CPP_DEFAULT_CONTEXT). */
  readonly contextLength?: number;
}

export function llama2cToGguf(checkpoint: Llama2cCheckpoint, vocab: Llama2cVocab, options: Llama2cToGgufOptions = {}): GgufContents {
  const { config } = checkpoint;
  const u32 = (value: number): TypedValue => ({ type: GgufValueType.UINT32, value });
  const f32 = (value: number): TypedValue => ({ type: GgufValueType.FLOAT32, value });
  const metadata: [string, TypedValue][] = [
    ["general.architecture", { type: GgufValueType.STRING, value: "llama" }],
    ["tokenizer.ggml.tokens", { type: GgufValueType.ARRAY, value: { itemType: GgufValueType.STRING, items: vocab.tokens } }],
    ["tokenizer.ggml.scores", { type: GgufValueType.ARRAY, value: { itemType: GgufValueType.FLOAT32, items: vocab.scores } }],
    ["tokenizer.ggml.token_type", { type: GgufValueType.ARRAY, value: { itemType: GgufValueType.INT32, items: vocab.types } }],
    ["tokenizer.ggml.model", { type: GgufValueType.STRING, value: "llama" }],
    ["general.name", { type: GgufValueType.STRING, value: "llama" }],
    ["tokenizer.ggml.unknown_token_id", u32(UNK_ID)],
    ["tokenizer.ggml.bos_token_id", u32(BOS_ID)],
    ["tokenizer.ggml.eos_token_id", u32(EOS_ID)],
    ["tokenizer.ggml.seperator_token_id", u32(NO_TOKEN)], // sic: llama.cpp's key name
    ["tokenizer.ggml.padding_token_id", u32(NO_TOKEN)],
    ["llama.context_length", u32(options.contextLength ?? LLAMA_CPP_DEFAULT_CONTEXT)],
    ["llama.embedding_length", u32(config.dim)],
    ["llama.feed_forward_length", u32(config.hiddenDim)],
    ["llama.attention.head_count", u32(config.nHeads)],
    ["llama.attention.head_count_kv", u32(config.nKvHeads)],
    ["llama.block_count", u32(config.nLayers)],
    ["llama.rope.dimension_count", u32(config.dim / config.nHeads)],
    ["llama.attention.layer_norm_rms_epsilon", f32(RMS_EPS)],
  ];
  return { version: 3, metadata, tensors: ggufTensors(checkpoint) };
}

function ggufTensors({ config, weights: w }: Llama2cCheckpoint): TensorToWrite[] {
  const { dim, hiddenDim, nLayers, vocabSize } = config;
  const kvDim = config.nKvHeads * (dim / config.nHeads);
  const f32 = (name: string, dims: number[], data: Uint8Array): TensorToWrite => ({ name, dims, type: GgmlType.F32, data });
  /** Layer `l` of a stacked tensor; llama2.c rows are (out, in), which is ggml's [in, out]. */
  const layer = (stacked: Uint8Array, l: number) => {
    const n = stacked.length / nLayers;
    return stacked.subarray(l * n, (l + 1) * n);
  };

  const tensors = [f32("token_embd.weight", [dim, vocabSize], w.tokenEmbedding), f32("output_norm.weight", [dim], w.rmsFinal)];
  if (w.wcls) tensors.push(f32("output.weight", [dim, vocabSize], w.wcls));
  for (let l = 0; l < nLayers; l++) {
    tensors.push(
      f32(`blk.${l}.attn_q.weight`, [dim, dim], layer(w.wq, l)),
      f32(`blk.${l}.attn_k.weight`, [dim, kvDim], layer(w.wk, l)),
      f32(`blk.${l}.attn_v.weight`, [dim, kvDim], layer(w.wv, l)),
      f32(`blk.${l}.attn_output.weight`, [dim, dim], layer(w.wo, l)),
      f32(`blk.${l}.attn_norm.weight`, [dim], layer(w.rmsAtt, l)),
      f32(`blk.${l}.ffn_gate.weight`, [dim, hiddenDim], layer(w.w1, l)),
      f32(`blk.${l}.ffn_down.weight`, [hiddenDim, dim], layer(w.w2, l)),
      f32(`blk.${l}.ffn_up.weight`, [dim, hiddenDim], layer(w.w3, l)),
      f32(`blk.${l}.ffn_norm.weight`, [dim], layer(w.rmsFfn, l)),
    );
  }
  return tensors;
}

/** Reads both llama2.c files and writes the GGUF atomically (a temporary file renamed into place). */
export function convertLlama2c(modelPath: string, tokenizerPath: string, outPath: string, options: Llama2cToGgufOptions = {}): void {
  const checkpoint = parseLlama2cCheckpoint(readFileSync(modelPath), modelPath);
  const vocab = parseLlama2cTokenizer(readFileSync(tokenizerPath), checkpoint.config.vocabSize, tokenizerPath);
  writeFileAtomic(outPath, encodeGguf(llama2cToGguf(checkpoint, vocab, options)));
}
