/** Sampling options or inputs that cannot be used; the message names the field and what was expected. */
export class SamplingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SamplingError";
  }
}

/** Every logit was -Infinity or NaN (after bias and penalties): no token can be chosen. */
export function noSampleableToken(): SamplingError {
  return new SamplingError("no token can be sampled: every logit is -Infinity or NaN (check logitBias bans)");
}
