import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** ../shared/fixtures/vocab beside the repository root; undefined when that checkout is missing. */
export const VOCAB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../shared/fixtures/vocab");
export const haveVocabs = existsSync(VOCAB_DIR);
export const skipNoVocabs = haveVocabs ? false : `missing ${VOCAB_DIR}`;

export function vocabFiles(): string[] {
  return haveVocabs ? readdirSync(VOCAB_DIR).filter((f) => f.endsWith(".gguf")).sort() : [];
}

export interface VocabCase {
  text: string;
  ids: number[];
}

/**
 * llama.cpp's test-tokenizer-0 vectors: `<vocab>.inp` holds texts separated by "\n__ggml_vocab_test__\n"
 * (the last one followed by it too), `<vocab>.out` one line of space-separated ids per text.
 */
export function vocabCases(file: string): VocabCase[] {
  const inp = readFileSync(path.join(VOCAB_DIR, `${file}.inp`), "utf8");
  const out = readFileSync(path.join(VOCAB_DIR, `${file}.out`), "utf8");
  const texts = inp.split("\n__ggml_vocab_test__\n");
  texts.pop();
  const lines = out.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (texts.length !== lines.length) throw new Error(`${file}: ${texts.length} inputs but ${lines.length} outputs`);
  return texts.map((text, i) => ({ text, ids: lines[i]!.split(" ").filter(Boolean).map(Number) }));
}
