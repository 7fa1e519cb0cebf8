import { FLAG_RANGES, LOWERCASE, NFD_RANGES, WHITESPACE } from "./unicode-data.ts";

/** llama.cpp's unicode_cpt_flags bits (unicode.h). */
export const U = {
  UNDEFINED: 0x0001, NUMBER: 0x0002, LETTER: 0x0004, SEPARATOR: 0x0008, ACCENT_MARK: 0x0010,
  PUNCTUATION: 0x0020, SYMBOL: 0x0040, CONTROL: 0x0080, CATEGORIES: 0x00ff, WHITESPACE: 0x0100,
} as const;

const MAX_CODEPOINTS = 0x110000;

function unpack(packed: string): number[][] {
  let prev: number[] = [];
  return packed.split(",").map((row) => {
    const cols = row.split(":").map((d, i) => parseInt(d, 36) + (prev[i] ?? 0));
    prev = cols;
    return cols;
  });
}

let flagTable: Uint16Array | undefined;

/** Category flags of every code point, built on first use (2 MB). */
export function codepointFlags(): Uint16Array {
  if (flagTable) return flagTable;
  const table = new Uint16Array(MAX_CODEPOINTS).fill(U.UNDEFINED);
  const ranges = unpack(FLAG_RANGES);
  for (let i = 1; i < ranges.length; i++) table.fill(ranges[i - 1]![1]!, ranges[i - 1]![0]!, ranges[i]![0]!);
  for (const [cp] of unpack(WHITESPACE)) table[cp!]! |= U.WHITESPACE;
  flagTable = table;
  return table;
}

/** Flags for a code point; out-of-range values are UNDEFINED as in llama.cpp. */
export function flagsOf(cp: number): number {
  return cp < MAX_CODEPOINTS ? codepointFlags()[cp]! : U.UNDEFINED;
}

let lowerMap: Map<number, number> | undefined;
export function toLower(cp: number): number {
  lowerMap ??= new Map(unpack(LOWERCASE).map(([a, b]) => [a!, b!]));
  return lowerMap.get(cp) ?? cp;
}

let nfdStarts: Int32Array | undefined, nfdEnds: Int32Array | undefined, nfdTo: Int32Array | undefined;
/** llama.cpp's unicode_cpts_normalize_nfd for one code point: the first code point of its decomposition. */
export function nfd(cp: number): number {
  if (!nfdStarts) {
    const rows = unpack(NFD_RANGES);
    nfdStarts = Int32Array.from(rows, (r) => r[0]!);
    nfdEnds = Int32Array.from(rows, (r) => r[1]!);
    nfdTo = Int32Array.from(rows, (r) => r[2]!);
  }
  let lo = 0, hi = nfdStarts.length; // first index with start > cp
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (nfdStarts[mid]! <= cp) lo = mid + 1;
    else hi = mid;
  }
  const i = lo - 1;
  return i >= 0 && cp <= nfdEnds![i]! ? nfdTo![i]! : cp;
}
