/** Sampling options or inputs that cannot be used; the message names the field and what was expected. */
export class SamplingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SamplingError";
  }
}
