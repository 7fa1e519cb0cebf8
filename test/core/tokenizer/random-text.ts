/** Seeded generator of awkward text for tokenizer property tests. */
export { prng as mulberry32 } from "../../helpers/synthetic-model.ts"; // the seeded PRNG the tests share

const PIECES = [
  "Hello", "world", "the", "The", "don't", "I'll", "we'VE", "it's", "'s", "'RE", "'d", " ", "  ", "   ", "\t", "\n", "\n\n",
  "\r\n", " \n ", "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b", "\ufeff", "0", "7", "42", "1234", "3.14159", "1,000,000",
  "function f(x) { return x + 1; }", "if (a <= b && c != d) {", "  });", "#include <stdio.h>", "def __init__(self):",
  "$var", "a+b=c", "~/.bashrc", "x^2", "`code`", "<html>", "</div>", "https://example.com/a?b=c&d=e", "--flag", "...",
  "?!", "!!", ",", ".", "é", "è", "ñ", "ü", "Ç", "ß", "ﬁ", "Ω", "Ω", "K", "µ", "µ", "e\u0301", "a\u0308\u0323",
  "Привет", "мир", "Ελληνικά", "ΐ", "ΐ", "日本語", "中文字符", "한국어", "ｶﾀｶﾅ", "ひらがな", "العربية", "עברית", "हिन्दी",
  "ภาษาไทย", "ქართული", "Ⅻ", "½", "²", "①", "٣", "१२", "😀", "👍🏽", "👨‍👩‍👧", "🇯🇵", "❤️", "🤖", "𝔘𝔫𝔦", "𐐀", "𠀋",
  "<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "[CLS]", "[SEP]", "<0x0A>", "▁", "Ġ", "Ċ", "\u0000", "\u001b[0m",
];

/** Code point ranges sampled at random, covering assigned and unassigned space. */
const RANGES: [number, number][] = [[0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff],
  [0x590, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x1e00, 0x1fff], [0x2000, 0x2bff], [0x3000, 0x30ff],
  [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xe000, 0xe0ff], [0xfb00, 0xfffd], [0x10000, 0x1ffff], [0x20000, 0x2a6df],
  [0xe0000, 0xe01ef], [0x0, 0x1f]];

export function randomText(rand: () => number): string {
  const n = Math.floor(rand() * rand() * 40);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.6) s += PIECES[Math.floor(rand() * PIECES.length)];
    else if (r < 0.8) s += " ".repeat(1 + Math.floor(rand() * 5));
    else {
      const [lo, hi] = RANGES[Math.floor(rand() * RANGES.length)]!;
      s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
    }
  }
  // Surrogate code points cannot be UTF-8 encoded; llama.cpp never sees them.
  return s.replace(/[\ud800-\udfff](?<![\ud800-\udbff][\udc00-\udfff])(?![\udc00-\udfff])/g, "\ufffd");
}
