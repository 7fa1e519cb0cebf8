/** A chat problem the caller can fix: no or a broken chat template, a bad saved conversation, a turn that cannot fit. */
export class ChatError extends Error {
  override name = "ChatError";
}

/** A conversation that no longer fits the context under the "error" overflow policy. */
export class ContextOverflowError extends ChatError {
  override name = "ContextOverflowError";
}
