import { TokenizerError } from "./errors.ts";
import { codepointFlags, toLower, U } from "./unicode.ts";

/**
 * BPE pre-tokenization exactly as llama.cpp's unicode_regex_split: each pre-tokenizer is a list of regexes applied
 * in turn, each splitting every piece left by the previous one (the text between matches is kept as pieces too).
 * The GPT-2, Llama-3 and Qwen2/3.5 regexes use llama.cpp's hand-written matchers; other regexes run as JS regexes
 * over the text "collapsed" to one character per code point the way llama.cpp feeds std::regex, so that \p{L} and
 * friends mean llama.cpp's Unicode tables rather than V8's.
 */

const LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const NEWLINES = "[^\\n]+|[\\n]+";

/** llama.cpp's regex lists per pre-tokenizer type (llm_tokenizer_bpe's constructor). */
const R = {
  default: ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"],
  llama3: [LLAMA3],
  jais2: ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"],
  deepseekLlm: [
    "[\r\n]",
    // Escaped: editors and tools may NFC-normalise literals such as U+1FD3, which breaks the ranges.
    "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
  ],
  deepseek3: ["\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"],
  deepseekCoder: ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"],
  falcon: ["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"],
  starcoder: ["\\p{N}", GPT2],
  gpt2: [GPT2],
  qwen2: [QWEN2],
  qwen35: [QWEN35],
  poro: [" ?[^(\\s|.,!?…。，、।۔،)]+"],
  viking: [" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"],
  tekken: ["[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  chameleon: ["<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", GPT2],
  gpt4o: ["[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  bailingmoe: ["'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"],
  seedCoder: ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  ufakzeka: ["[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  laguna: [NEWLINES, QWEN2],
  minicpm5: ["\\p{N}{1,3}", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
  exaoneMoe: ["(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"],
} satisfies Record<string, string[]>;

type PreFlag = "keep-spaces" | "ignore-merges" | "add-bos" | "no-bos";
export interface PreTokenizerSpec {
  readonly regexes: readonly string[];
  /** Changes llama.cpp's load() makes to the BPE defaults for this pre-tokenizer. */
  readonly flags: readonly PreFlag[];
}

const spec = (regexes: readonly string[], ...flags: PreFlag[]): PreTokenizerSpec => ({ regexes, flags });
const L3: PreFlag[] = ["ignore-merges", "add-bos"];

/** Every tokenizer.ggml.pre value llama.cpp accepts for gpt2 vocabularies that this port implements. */
export const PRE_TOKENIZERS: Readonly<Record<string, PreTokenizerSpec>> = {
  "default": spec(R.default), "": spec(R.default),
  "llama3": spec(R.llama3, ...L3), "llama-v3": spec(R.llama3, ...L3), "llama-bpe": spec(R.llama3, ...L3),
  "falcon3": spec(R.llama3, ...L3), "falcon-h1": spec(R.llama3, ...L3), "pixtral": spec(R.llama3, ...L3),
  "midm-2.0": spec(R.llama3, ...L3), "lfm2": spec(R.llama3, ...L3), "jina-v5-nano": spec(R.llama3, ...L3),
  "dbrx": spec(R.llama3), "smaug-bpe": spec(R.llama3), "jais-2": spec(R.jais2),
  "deepseek-llm": spec(R.deepseekLlm, "keep-spaces"), "deepseek-coder": spec(R.deepseekCoder, "keep-spaces"),
  "deepseek-v3": spec(R.deepseek3, "keep-spaces"), "hunyuan-dense": spec(R.deepseek3, "keep-spaces"),
  "joyai-llm": spec(R.deepseek3, "keep-spaces"), "hy_v4": spec(R.deepseek3, "keep-spaces"),
  "falcon": spec(R.falcon),
  "starcoder": spec(R.starcoder), "refact": spec(R.starcoder), "command-r": spec(R.starcoder, "keep-spaces"),
  "smollm": spec(R.starcoder, "keep-spaces"), "codeshell": spec(R.starcoder), "exaone": spec(R.starcoder),
  "minerva-7b": spec(R.starcoder), "mellum2": spec(R.starcoder),
  "gpt-2": spec(R.gpt2), "phi-2": spec(R.gpt2), "jina-es": spec(R.gpt2), "jina-de": spec(R.gpt2),
  "gigachat": spec(R.gpt2), "jina-v2-es": spec(R.gpt2), "jina-v2-de": spec(R.gpt2), "a.x-4.0": spec(R.gpt2),
  "mellum": spec(R.gpt2), "modern-bert": spec(R.gpt2), "exaone4": spec(R.gpt2), "mpt": spec(R.gpt2),
  "olmo": spec(R.gpt2), "jais": spec(R.gpt2), "trillion": spec(R.gpt2, "keep-spaces"),
  "granite-docling": spec(R.gpt2, "keep-spaces"),
  "jina-v1-en": spec(R.gpt2), "jina-v2-code": spec(R.gpt2), "roberta-bpe": spec(R.gpt2),
  "qwen2": spec(R.qwen2, "keep-spaces"), "deepseek-r1-qwen": spec(R.qwen2, "keep-spaces"), "kormo": spec(R.qwen2, "keep-spaces"),
  "f2llmv2": spec(R.qwen2, "keep-spaces"), "megrez": spec(R.qwen2), "stablelm2": spec(R.qwen2),
  "hunyuan": spec(R.qwen2, "keep-spaces"), "solar-open": spec(R.qwen2, "keep-spaces"), "grok-2": spec(R.qwen2, "keep-spaces"),
  "qwen35": spec(R.qwen35, "keep-spaces"),
  "poro-chat": spec(R.poro, "keep-spaces"), "bloom": spec(R.poro), "gpt3-finnish": spec(R.poro),
  "glm4": spec(R.llama3, "no-bos"), "chatglm-bpe": spec(R.llama3, "no-bos"),
  "viking": spec(R.viking, "keep-spaces"), "tekken": spec(R.tekken, "keep-spaces", "ignore-merges", "add-bos"),
  "chameleon": spec(R.chameleon, "add-bos", "keep-spaces"),
  "gpt-4o": spec(R.gpt4o, "keep-spaces"), "llama4": spec(R.gpt4o, "keep-spaces"), "kanana2": spec(R.gpt4o, "keep-spaces"),
  "talkie": spec(R.gpt4o, "keep-spaces"), "minimax-m2": spec(R.gpt4o, "keep-spaces"),
  "bailingmoe": spec(R.bailingmoe, "keep-spaces"), "bailingmoe2": spec(R.bailingmoe, "keep-spaces"),
  "llada-moe": spec(R.bailingmoe, "keep-spaces"), "seed-coder": spec(R.seedCoder, "keep-spaces"),
  "ufakzeka": spec(R.ufakzeka, "keep-spaces"), "laguna": spec(R.laguna, "keep-spaces"),
  "minicpm5": spec(R.minicpm5, "ignore-merges"), "exaone-moe": spec(R.exaoneMoe),
};

/** A text as llama.cpp's splitters see it: code points and their category flags. */
export interface CodepointText {
  readonly cps: Int32Array;
  readonly flags: Uint16Array;
  readonly length: number;
}

export function toCodepoints(text: string): CodepointText {
  const cps = new Int32Array(text.length);
  const flags = new Uint16Array(text.length);
  const table = codepointFlags();
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
    cps[n] = c;
    flags[n++] = table[c]!;
  }
  return { cps, flags, length: n };
}

/** Splits piece lengths (in code points) further; returns the new lengths. */
type Splitter = (t: CodepointText, pieces: readonly number[]) => number[];

/** Compiles a pre-tokenizer's regex list into splitters, once per vocabulary. */
export function compilePreTokenizer(regexes: readonly string[]): (t: CodepointText) => number[] {
  const splitters = regexes.map(compileRegex);
  return (t) => {
    let pieces = t.length ? [t.length] : [];
    for (const s of splitters) pieces = s(t, pieces);
    return pieces;
  };
}

function compileRegex(regex: string): Splitter {
  if (regex === GPT2) return splitGpt2;
  if (regex === LLAMA3) return (t, p) => splitLlama3Family(t, p, 3, false);
  if (regex === QWEN2) return (t, p) => splitLlama3Family(t, p, 1, false);
  if (regex === QWEN35) return (t, p) => splitLlama3Family(t, p, 1, true);
  if (regex === NEWLINES) return splitNewlines;
  return regexSplitter(regex);
}

/** Runs a piece-splitting loop: `step` returns the end of the next word starting at pos (within [pos, end]). */
function eachPiece(pieces: readonly number[], step: (pos: number, end: number, out: number[]) => void): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of pieces) {
    step(start, start + len, out);
    start += len;
  }
  return out;
}

const APOS = 0x27, SPACE = 0x20, CR = 0x0d, LF = 0x0a;
const ch = (s: string) => s.charCodeAt(0);

/** Length of a 's 't 're 've 'm 'll 'd contraction at pos (0 if none); lowercases when caseInsensitive. */
function contraction(cps: Int32Array, pos: number, end: number, caseInsensitive: boolean): number {
  if (cps[pos] !== APOS || pos + 1 >= end) return 0;
  const low = (c: number) => (caseInsensitive ? toLower(c) : c);
  const a = low(cps[pos + 1]!);
  if (a === ch("s") || a === ch("t") || a === ch("m") || a === ch("d")) return 2;
  if (pos + 2 < end) {
    const b = low(cps[pos + 2]!);
    if ((a === ch("r") && b === ch("e")) || (a === ch("v") && b === ch("e")) || (a === ch("l") && b === ch("l"))) return 3;
  }
  return 0;
}

/** Cuts pieces at the positions given, from `ini` on; returns the length of the piece just cut (0 for none). */
function pieceCutter(ini: number, out: number[]): (end: number) => number {
  let prevEnd = ini;
  return (e) => {
    const len = e - prevEnd;
    if (len > 0) out.push(len);
    prevEnd = e;
    return len;
  };
}

/**
 * Where `\s+(?!\S)|\s+` ends for a run of `ws` whitespace code points at pos: before the last one when more text
 * follows (it joins the next word), else after the run; a lone non-matching code point is its own piece.
 */
function whitespaceRunEnd(pos: number, ws: number, end: number): number {
  if (ws > 1 && pos + ws < end) return pos + ws - 1;
  return ws > 0 ? pos + ws : pos + 1;
}

/** llama.cpp's unicode_regex_split_custom_gpt2. */
function splitGpt2(t: CodepointText, pieces: readonly number[]): number[] {
  const { cps } = t;
  return eachPiece(pieces, (ini, end, out) => {
    const flagsAt = (p: number) => (p >= ini && p < end ? t.flags[p]! : 0);
    const add = pieceCutter(ini, out);
    for (let pos = ini; pos < end;) {
      const cpt = cps[pos]!;
      const c = contraction(cps, pos, end, false);
      if (c) {
        pos += add(pos + c);
        continue;
      }
      let f2 = cpt === SPACE ? flagsAt(pos + 1) : t.flags[pos]!;
      if (f2 & U.LETTER) {
        if (cpt === SPACE) pos++;
        while (f2 & U.LETTER) f2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      if (f2 & U.NUMBER) {
        if (cpt === SPACE) pos++;
        while (f2 & U.NUMBER) f2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      if (!(f2 & (U.WHITESPACE | U.LETTER | U.NUMBER)) && f2) {
        if (cpt === SPACE) pos++;
        while (!(f2 & (U.WHITESPACE | U.LETTER | U.NUMBER)) && f2) f2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      let ws = 0;
      while (flagsAt(pos + ws) & U.WHITESPACE) ws++;
      pos = whitespaceRunEnd(pos, ws, end);
      add(pos);
    }
  });
}

/**
 * llama.cpp's unicode_regex_split_custom_llama3 (digit runs of up to 3), _qwen2 (single digits) and _qwen35
 * (single digits, combining marks count as letters).
 */
function splitLlama3Family(t: CodepointText, pieces: readonly number[], maxDigits: number, marks: boolean): number[] {
  const { cps } = t;
  const letterLike = marks ? U.LETTER | U.ACCENT_MARK : U.LETTER;
  const notPunct = U.WHITESPACE | U.NUMBER | letterLike;
  return eachPiece(pieces, (ini, end, out) => {
    const flagsAt = (p: number) => (p >= ini && p < end ? t.flags[p]! : 0);
    const cptAt = (p: number) => (p >= ini && p < end ? cps[p]! : -1);
    const add = pieceCutter(ini, out);
    for (let pos = ini; pos < end;) {
      const cpt = cps[pos]!;
      const flags = t.flags[pos]!;
      const c = contraction(cps, pos, end, true);
      if (c) {
        pos += add(pos + c);
        continue;
      }
      // [^\r\n\p{L}\p{N}]?\p{L}+
      if (!(cpt === CR || cpt === LF || flags & U.NUMBER) && (flags & letterLike || flagsAt(pos + 1) & letterLike)) {
        pos++;
        while (flagsAt(pos) & letterLike) pos++;
        add(pos);
        continue;
      }
      if (flags & U.NUMBER) {
        if (maxDigits === 1) pos++;
        else {
          let from = pos;
          while (flagsAt(pos) & U.NUMBER) {
            if (++pos - from >= maxDigits) {
              add(pos);
              from = pos;
            }
          }
        }
        add(pos);
        continue;
      }
      // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the current code point's flags for being in range)
      let f2 = cpt === SPACE ? flagsAt(pos + 1) : flags;
      if (!(f2 & notPunct) && flags) {
        if (cpt === SPACE) pos++;
        while (!(f2 & notPunct) && f2) f2 = flagsAt(++pos);
        let c2 = cptAt(pos);
        while (c2 === CR || c2 === LF) c2 = cptAt(++pos);
        add(pos);
        continue;
      }
      let ws = 0, lastNewlineEnd = 0;
      while (flagsAt(pos + ws) & U.WHITESPACE) {
        const c2 = cps[pos + ws]!;
        if (c2 === CR || c2 === LF) lastNewlineEnd = pos + ws + 1;
        ws++;
      }
      if (lastNewlineEnd > 0) {
        pos = lastNewlineEnd;
        add(pos);
        continue;
      }
      pos = whitespaceRunEnd(pos, ws, end);
      add(pos);
    }
  });
}

/** llama.cpp's unicode_regex_split_custom_newlines: alternate runs of non-newlines and newlines. */
function splitNewlines(t: CodepointText, pieces: readonly number[]): number[] {
  return eachPiece(pieces, (pos, end, out) => {
    while (pos < end) {
      const nl = t.cps[pos] === LF;
      const from = pos;
      while (pos < end && (t.cps[pos] === LF) === nl) pos++;
      out.push(pos - from);
    }
  });
}

// Collapsed representation (llama.cpp unicode_regex_split): ASCII stays, other code points become one byte for
// their category, so std::regex (and here a JS regex) can match \p{..} classes.
const CATEGORY_CHAR: Record<number, number> = { [U.NUMBER]: 0xd1, [U.LETTER]: 0xd2, [U.PUNCTUATION]: 0xd3, [U.ACCENT_MARK]: 0xd4, [U.SYMBOL]: 0xd5 };
const CATEGORY_CLASS: Record<string, string> = {
  N: "\\xD1\\x30-\\x39",
  L: "\\xD2\\x41-\\x5A\\x61-\\x7A", Lu: "\\xD2\\x41-\\x5A\\x61-\\x7A", Ll: "\\xD2\\x41-\\x5A\\x61-\\x7A",
  Lt: "\\xD2\\x41-\\x5A\\x61-\\x7A", Lm: "\\xD2\\x41-\\x5A\\x61-\\x7A", Lo: "\\xD2\\x41-\\x5A\\x61-\\x7A",
  P: "\\xD3\\x21-\\x23\\x25-\\x2A\\x2C-\\x2F\\x3A-\\x3B\\x3F-\\x40\\x5B-\\x5D\\x5F\\x7B\\x7D",
  M: "\\xD4",
  S: "\\xD5\\x24\\x2B\\x3C-\\x3E\\x5E\\x60\\x7C\\x7E",
};
/** std::regex's \s is ASCII whitespace only; JS's also covers U+00A0, U+FEFF and more. */
const ASCII_SPACE = "\\t\\n\\v\\f\\r ";

/** Rewrites a llama.cpp regex for JS: \p{..} as collapsed classes, \s and \S as std::regex reads them. */
function toJsRegex(regex: string, collapse: boolean): string {
  let out = "";
  let inside = false;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i]!;
    if (c === "\\" && i + 1 < regex.length) {
      const next = regex[i + 1]!;
      if (next === "p" && collapse) {
        const close = regex.indexOf("}", i);
        const cls = CATEGORY_CLASS[regex.slice(i + 3, close)];
        if (!cls) throw new TokenizerError(`pre-tokenizer regex uses unsupported class ${regex.slice(i, close + 1)}`);
        out += inside ? cls : `[${cls}]`;
        i = close;
        continue;
      }
      if (next === "s" || next === "S") {
        out += inside ? (next === "s" ? ASCII_SPACE : "") : `[${next === "S" ? "^" : ""}${ASCII_SPACE}]`;
        if (inside && next === "S") throw new TokenizerError("\\S inside a character class is not supported");
        i++;
        continue;
      }
      out += c + next;
      i++;
      continue;
    }
    if (c === "[") inside = true;
    else if (c === "]") inside = false;
    out += c;
  }
  return out;
}

/** Generic path: std::regex_iterator over each piece; text between matches becomes pieces as well. */
function regexSplitter(regex: string): Splitter {
  const collapse = /\\p\{/.test(regex);
  const re = new RegExp(toJsRegex(regex, collapse), collapse ? "g" : "gu");
  return (t, pieces) => {
    const text = collapse ? collapsed(t) : widened(t);
    // Without collapsing, astral code points are two UTF-16 units: map unit offsets back to code point offsets.
    const unitStart = collapse ? undefined : unitOffsets(t);
    const toCp = (unit: number, from: number) => {
      if (!unitStart) return unit;
      let cp = from;
      while (unitStart[cp]! < unit) cp++;
      return cp;
    };
    return eachPiece(pieces, (ini, end, out) => {
      const a = unitStart ? unitStart[ini]! : ini;
      const b = unitStart ? unitStart[end]! : end;
      const segment = text.slice(a, b);
      let last = ini;
      re.lastIndex = 0;
      // exec() in a loop rather than matchAll(), which clones the regex on every call.
      for (let m = re.exec(segment); m !== null; m = re.exec(segment)) {
        if (m[0].length === 0) {
          re.lastIndex += 1;
          continue;
        }
        const s = toCp(a + m.index, last);
        const e = toCp(a + m.index + m[0].length, s);
        if (s > last) out.push(s - last);
        out.push(e - s);
        last = e;
      }
      if (last < end) out.push(end - last);
    });
  };
}

const collapsedCache = new WeakMap<CodepointText, string>();
function collapsed(t: CodepointText): string {
  let s = collapsedCache.get(t);
  if (s !== undefined) return s;
  const units = new Uint16Array(t.length);
  for (let i = 0; i < t.length; i++) {
    const c = t.cps[i]!;
    if (c < 128) units[i] = c;
    else {
      const f = t.flags[i]!;
      units[i] = f & U.WHITESPACE ? 0x0b : CATEGORY_CHAR[f & U.CATEGORIES] ?? 0xd0;
    }
  }
  s = decodeUnits(units);
  collapsedCache.set(t, s);
  return s;
}

/** The text with non-ASCII whitespace as \v, the way llama.cpp prepares it for std::wregex. */
const widenedCache = new WeakMap<CodepointText, string>();
function widened(t: CodepointText): string {
  const cached = widenedCache.get(t);
  if (cached !== undefined) return cached;
  let s = "";
  for (let i = 0; i < t.length; i++) {
    const c = t.cps[i]!;
    s += String.fromCodePoint(c > 0x7f && t.flags[i]! & U.WHITESPACE ? 0x0b : c);
  }
  widenedCache.set(t, s);
  return s;
}

function unitOffsets(t: CodepointText): Int32Array {
  const offs = new Int32Array(t.length + 1);
  for (let i = 0; i < t.length; i++) offs[i + 1] = offs[i]! + (t.cps[i]! > 0xffff ? 2 : 1);
  return offs;
}

function decodeUnits(units: Uint16Array): string {
  let s = "";
  for (let i = 0; i < units.length; i += 8192) s += String.fromCharCode(...units.subarray(i, i + 8192));
  return s;
}
