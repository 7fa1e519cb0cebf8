/** A GGUF file (or a model inside one) that cannot be used; the message names the file and what was wrong. */
export class GgufError extends Error {
  constructor(readonly file: string, readonly detail: string) {
    super(`${file}: ${detail}`);
    this.name = "GgufError";
  }
}
