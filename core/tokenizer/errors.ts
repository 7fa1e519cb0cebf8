/** Bad token ids, unknown tokenizer models or pre-tokenizers, malformed vocabularies. */
export class TokenizerError extends Error {
  override name = "TokenizerError";
}
