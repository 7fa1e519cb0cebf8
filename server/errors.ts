/** An error answered as OpenAI's error object ({ error: { message, type, param, code } }) with an HTTP status. */
export class HttpError extends Error {
  override name = "HttpError";

  constructor(
    readonly status: number,
    message: string,
    /** The request field that was wrong, when one was. */
    readonly param: string | null = null,
    readonly type: string = status === 401 ? "authentication_error" : status >= 500 ? "server_error" : "invalid_request_error",
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get body(): { error: { message: string; type: string; param: string | null; code: number } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

export function badRequest(message: string, param: string | null = null): HttpError {
  return new HttpError(400, message, param);
}

/**
 * A failure of a generation as an HTTP error: what the request asked for and the engine refused (a prompt too
 * long for the context or the pool, a bad sampling option, token, grammar or schema) is the client's 400, anything else is ours.
 */
export function generationError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const clientFault = err instanceof RangeError || ["SamplingError", "TokenizerError", "GrammarError", "SchemaError"].includes(err.name);
  return clientFault ? badRequest(err.message) : new HttpError(500, err.message);
}
