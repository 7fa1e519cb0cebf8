/** A bad argument or bad input: the CLI prints the message and exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export const EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_BAD_INPUT = 2;

/**
 * Errors that mean "what you gave me is wrong" rather than "something failed while running". Known by name, so the
 * CLI need not load the modules that throw them to start.
 */
export function isBadInput(e: unknown): boolean {
  return e instanceof UsageError || e instanceof RangeError ||
    (e instanceof Error && ["GgufError", "TokenizerError", "SamplingError", "SessionError", "Llama2cFormatError", "ModelNotFoundError", "RecipeError", "ChatError", "ContextOverflowError", "GrammarError", "SchemaError"].includes(e.name));
}
