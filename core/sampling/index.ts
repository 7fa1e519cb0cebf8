// Sampling for one request at a time: the sampler chain (Sampler; order and semantics are llama.cpp's, see
// sampler.ts), when to stop (StopMatcher, StopCondition), and option checks (validateSamplingOptions).
export { Sampler } from "./sampler.ts";
export { StopMatcher } from "./stop-matcher.ts";
export { StopCondition, type StopOptions, type FinishReason } from "./stop-condition.ts";
export { SamplingError } from "./errors.ts";
export { DEFAULT_SAMPLING, validateSamplingOptions, type SamplingOptions } from "./options.ts";
export { Xoshiro128 } from "./prng.ts";
