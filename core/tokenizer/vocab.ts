import { getArray, type GgufFile, type GgufValue } from "../gguf/index.ts";
import { TokenizerError } from "./errors.ts";
import { PRE_TOKENIZERS } from "./pre-tokenizers.ts";

/** Token attributes, numbered as llama.h's llama_token_attr. */
export const Attr = {
  UNKNOWN: 1 << 0, UNUSED: 1 << 1, NORMAL: 1 << 2, CONTROL: 1 << 3, USER_DEFINED: 1 << 4, BYTE: 1 << 5,
  LSTRIP: 1 << 7, RSTRIP: 1 << 8,
} as const;

/** GGUF tokenizer.ggml.token_type values mapped to attributes (llama_token_type -> llama_token_attr). */
const TYPE_TO_ATTR = [0, Attr.NORMAL, Attr.UNKNOWN, Attr.CONTROL, Attr.USER_DEFINED, Attr.UNUSED, Attr.BYTE];

export type VocabKind = "spm" | "bpe" | "wpm";

/** Tokens whose text llama.cpp treats as end-of-turn / FIM markers; they become CONTROL (llama_vocab::impl::load). */
const EOT_TEXTS = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"];
const EOM_TEXTS = ["<|eom_id|>"];
const FIM_PRE_TEXTS = ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];
const FIM_SUF_TEXTS = ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];
const FIM_MID_TEXTS = ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];
const FIM_PAD_TEXTS = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_TEXTS = ["<|file_sep|>"];
const EOG_TEXTS = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["];

/**
 * Everything llama.cpp's llama_vocab::impl::load derives from GGUF metadata: token texts, scores, attributes, the
 * special ids and flags (with llama.cpp's per-model defaults), the end-of-generation set and the special tokens
 * that are split out of raw text before tokenizing.
 */
export class Vocab {
  readonly kind: VocabKind;
  readonly model: string;
  readonly pre: string;
  readonly texts: string[];
  readonly scores: Float32Array;
  readonly attrs: Uint16Array;
  readonly idOf = new Map<string, number>();
  bos: number | undefined;
  eos: number | undefined;
  eot: number | undefined;
  eom: number | undefined;
  unk: number | undefined;
  sep: number | undefined;
  addBos = false;
  addEos = false;
  addSpacePrefix = false;
  cleanSpaces = false;
  ignoreMerges = false;
  lowercase = true;
  stripAccents = true;
  readonly eog = new Set<number>();
  /** CONTROL, USER_DEFINED and UNKNOWN tokens, longest text first: the order tokenizer_st_partition tries them. */
  readonly specialIds: number[];

  constructor(f: GgufFile) {
    const meta = f.metadata;
    this.model = str(meta.get("tokenizer.ggml.model"), "tokenizer.ggml.model");
    this.pre = meta.has("tokenizer.ggml.pre") ? str(meta.get("tokenizer.ggml.pre"), "tokenizer.ggml.pre") : "";

    let fimPad: number | undefined, fimRep: number | undefined, fimSep: number | undefined;
    let fimPre: number | undefined, fimSuf: number | undefined, fimMid: number | undefined;
    switch (this.model) {
      case "llama":
        this.kind = "spm";
        [this.bos, this.eos, this.unk] = [1, 2, 0];
        this.addSpacePrefix = true;
        this.addBos = true;
        break;
      case "bert":
        this.kind = "wpm";
        [this.bos, this.unk, this.sep] = [101, 100, 102];
        this.addBos = true;
        this.cleanSpaces = true;
        break;
      case "gpt2":
        this.kind = "bpe";
        [this.bos, this.eos] = [11, 11];
        this.cleanSpaces = true;
        break;
      default:
        throw new TokenizerError(`${f.path}: unsupported tokenizer model '${this.model}' (supported: llama, gpt2, bert)`);
    }

    const tokens = getArray(f, "tokenizer.ggml.tokens");
    if (!tokens || !isStringArray(tokens.items)) throw new TokenizerError(`${f.path}: tokenizer.ggml.tokens is missing or not a string array`);
    const n = tokens.items.length;
    this.texts = new Array<string>(n);
    this.scores = new Float32Array(n);
    this.attrs = new Uint16Array(n).fill(Attr.NORMAL);
    const scores = getArray(f, "tokenizer.ggml.scores")?.items;
    const types = getArray(f, "tokenizer.ggml.token_type")?.items;
    if (scores && scores.length < n) throw new TokenizerError(`${f.path}: ${scores.length} scores for ${n} tokens`);
    if (types && types.length < n) throw new TokenizerError(`${f.path}: ${types.length} token types for ${n} tokens`);
    for (let i = 0; i < n; i++) {
      const text = (tokens.items[i] as string) || `[EMPTY_${i}]`;
      this.texts[i] = text;
      this.idOf.set(text, i);
      if (scores) this.scores[i] = Number(scores[i]);
      if (types) this.attrs[i] = TYPE_TO_ATTR[Number(types[i])] ?? 0;
    }

    const u32 = (key: string): number | undefined => {
      const v = meta.get(key);
      return typeof v === "number" ? v : undefined;
    };
    const bool = (key: string): boolean | undefined => {
      const v = meta.get(key);
      return typeof v === "boolean" ? v : undefined;
    };
    if (this.kind === "bpe") this.configureBpe(f.path);
    this.addSpacePrefix = bool("tokenizer.ggml.add_space_prefix") ?? this.addSpacePrefix;

    // Special ids: defaults above, out-of-range ones dropped, then overridden by metadata when in range.
    const special = (current: number | undefined, key: string): number | undefined => {
      let id = current !== undefined && current >= n ? undefined : current;
      const v = u32(key);
      if (v !== undefined && v < n) id = v;
      return id;
    };
    this.bos = special(this.bos, "tokenizer.ggml.bos_token_id");
    this.eos = special(this.eos, "tokenizer.ggml.eos_token_id");
    this.eot = special(undefined, "tokenizer.ggml.eot_token_id");
    this.eom = special(undefined, "tokenizer.ggml.eom_token_id");
    this.unk = special(this.unk, "tokenizer.ggml.unknown_token_id");
    this.sep = special(this.sep, "tokenizer.ggml.seperator_token_id");
    fimPre = special(special(undefined, "tokenizer.ggml.fim_pre_token_id"), "tokenizer.ggml.prefix_token_id");
    fimSuf = special(special(undefined, "tokenizer.ggml.fim_suf_token_id"), "tokenizer.ggml.suffix_token_id");
    fimMid = special(special(undefined, "tokenizer.ggml.fim_mid_token_id"), "tokenizer.ggml.middle_token_id");
    fimPad = special(undefined, "tokenizer.ggml.fim_pad_token_id");
    fimRep = special(undefined, "tokenizer.ggml.fim_rep_token_id");
    fimSep = special(undefined, "tokenizer.ggml.fim_sep_token_id");

    this.addBos = bool("tokenizer.ggml.add_bos_token") ?? this.addBos;
    this.addEos = bool("tokenizer.ggml.add_eos_token") ?? this.addEos;
    this.lowercase = bool("tokenizer.ggml.normalizer.lowercase") ?? this.lowercase;
    this.stripAccents = bool("tokenizer.ggml.normalizer.strip_accents") ?? this.lowercase;

    // Text-based detection of end-of-turn and FIM tokens, which also marks them CONTROL.
    const detect = (current: number | undefined, texts: readonly string[]): number | undefined => {
      if (current !== undefined) return current;
      for (const t of texts) {
        const id = this.idOf.get(t);
        if (id !== undefined) {
          this.attrs[id]! |= Attr.CONTROL;
          return id;
        }
      }
      return undefined;
    };
    this.eot = detect(this.eot, EOT_TEXTS);
    this.eom = detect(this.eom, EOM_TEXTS);
    fimPre = detect(fimPre, FIM_PRE_TEXTS);
    fimSuf = detect(fimSuf, FIM_SUF_TEXTS);
    fimMid = detect(fimMid, FIM_MID_TEXTS);
    fimPad = detect(fimPad, FIM_PAD_TEXTS);
    fimRep = detect(fimRep, FIM_REP_TEXTS);
    fimSep = detect(fimSep, FIM_SEP_TEXTS);

    for (let i = 0; i < n; i++) {
      if (this.attrs[i]! & Attr.CONTROL && this.texts[i]!.includes("unused")) this.attrs[i]! |= Attr.UNUSED;
    }
    for (const id of [fimPad, fimRep, fimSep]) if (id !== undefined) this.eog.add(id);
    for (const t of EOG_TEXTS) {
      const id = this.idOf.get(t);
      if (id === undefined) continue;
      this.eog.add(id);
      this.attrs[id]! |= Attr.CONTROL;
    }
    for (const t of ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]) {
      const id = this.idOf.get(t);
      if (id !== undefined) this.attrs[id] = Attr.USER_DEFINED;
    }
    for (const id of [this.eos, this.eot, this.eom]) if (id !== undefined) this.eog.add(id);
    this.applyEogWorkarounds();

    this.specialIds = [];
    for (let i = 0; i < n; i++) {
      if (this.attrs[i]! & (Attr.CONTROL | Attr.USER_DEFINED | Attr.UNKNOWN)) this.specialIds.push(i);
    }
    this.specialIds.sort((a, b) => this.texts[b]!.length - this.texts[a]!.length || a - b);

    const name = typeof meta.get("general.name") === "string" ? (meta.get("general.name") as string).toLowerCase() : "";
    if (name.includes("phi-3") || name.includes("phi3")) this.applyPhi3StripAttrs();
  }

  /** llama.cpp's EOG exceptions: harmony/solar-open '<|end|>' and gemma4 '</s>' do not end generation. */
  private applyEogWorkarounds(): void {
    const has = (t: string) => [...this.eog].find((id) => this.texts[id] === t);
    const end = has("<|end|>");
    if (end !== undefined && ((has("<|return|>") !== undefined && has("<|call|>") !== undefined) || (has("<|calls|>") !== undefined && has("<|flush|>") !== undefined))) {
      this.eog.delete(end);
      this.attrs[end] = Attr.USER_DEFINED;
    }
    const s = has("</s>");
    if (s !== undefined && has("<|tool_response>") !== undefined) {
      this.eog.delete(s);
      this.attrs[s] = Attr.NORMAL;
    }
  }

  /** Phi-3 special tokens swallow the whitespace after them (llama.cpp sets RSTRIP by model name). */
  private applyPhi3StripAttrs(): void {
    for (const id of this.specialIds) this.attrs[id]! |= Attr.RSTRIP;
    const set = (t: string, on: boolean) => {
      const id = this.idOf.get(t);
      if (id === undefined) throw new TokenizerError(`phi-3 vocabulary lacks '${t}'`);
      this.attrs[id] = on ? this.attrs[id]! | Attr.RSTRIP : this.attrs[id]! & ~Attr.RSTRIP;
    };
    set("</s>", true);
    for (const t of ["<unk>", "<s>", "<|endoftext|>"]) set(t, false);
  }

  /** The pre-tokenizer's flag changes, as llama.cpp's load() makes them. */
  private configureBpe(path: string): void {
    const flags = PRE_TOKENIZERS[this.pre]?.flags;
    if (!flags) throw new TokenizerError(`${path}: unsupported pre-tokenizer '${this.pre}' for tokenizer model 'gpt2'`);
    if (flags.includes("keep-spaces")) this.cleanSpaces = false;
    if (flags.includes("ignore-merges")) this.ignoreMerges = true;
    if (flags.includes("add-bos")) this.addBos = true;
    if (flags.includes("no-bos")) this.bos = undefined;
  }

  isByte(id: number): boolean {
    return (this.attrs[id]! & Attr.BYTE) !== 0;
  }
}

function str(v: GgufValue | undefined, key: string): string {
  if (typeof v !== "string") throw new TokenizerError(`metadata '${key}' is missing or not a string`);
  return v;
}

function isStringArray(items: readonly GgufValue[] | ArrayLike<number | bigint>): items is readonly string[] {
  return Array.isArray(items) && (items.length === 0 || typeof items[0] === "string");
}
