/** A grammar that cannot be used: malformed GBNF (the message names line and column), a missing root, left
 *  recursion, an unknown token. */
export class GrammarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GrammarError";
  }
}

/** A JSON Schema (or zod schema) that cannot be enforced as a grammar; the message names the keyword and where. */
export class SchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SchemaError";
  }
}
