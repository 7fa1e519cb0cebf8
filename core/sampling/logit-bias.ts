import { SamplingError } from "./errors.ts";

/** A logit bias compiled to parallel arrays once per request, so applying it per token allocates nothing. */
export class LogitBias {
  private readonly ids: Int32Array;
  private readonly biases: Float32Array;

  constructor(bias: Record<number, number> | undefined, vocabSize: number) {
    const entries = Object.entries(bias ?? {});
    this.ids = new Int32Array(entries.length);
    this.biases = new Float32Array(entries.length);
    entries.forEach(([key, value], i) => {
      const id = Number(key);
      if (id >= vocabSize) throw new SamplingError(`logitBias token id ${id} is outside the vocabulary (size ${vocabSize})`);
      this.ids[i] = id;
      this.biases[i] = value;
    });
  }

  /** True when there is no bias to apply. */
  get empty(): boolean {
    return this.ids.length === 0;
  }

  apply(logits: Float32Array): void {
    for (let i = 0; i < this.ids.length; i++) logits[this.ids[i]] += this.biases[i];
  }
}
