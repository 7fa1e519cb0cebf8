import { SamplingError } from "./errors.ts";

export interface SamplingOptions {
  /** Softmax temperature; 0 means greedy (argmax after logit bias and penalties). */
  temperature?: number;
  /** Keep the k most likely tokens; 0 keeps the whole vocabulary. */
  topK?: number;
  /** Nucleus sampling: keep the smallest most-likely set whose mass reaches p; 1 disables. */
  topP?: number;
  /** Drop tokens whose probability is below minP times the most likely one's; 0 disables. */
  minP?: number;
  /** Locally typical sampling (Meister et al. 2022): keep the tokens closest to the entropy up to mass p; 1 disables. */
  typicalP?: number;
  /** Repetition penalty for tokens seen in the last repeatLastN tokens; 1 disables. */
  repeatPenalty?: number;
  /** How many recent tokens the penalties look at; 0 disables all penalties. */
  repeatLastN?: number;
  /** Subtracted once from the logit of every token seen in the window. */
  presencePenalty?: number;
  /** Subtracted from the logit of each token once per occurrence in the window. */
  frequencyPenalty?: number;
  /** Token id -> additive logit bias; -Infinity bans the token. */
  logitBias?: Record<number, number>;
  /** Seed of this request's own random stream; omitted = a random seed (reported in Sampler.options). */
  seed?: number;
}

export type ResolvedSamplingOptions = Required<Omit<SamplingOptions, "logitBias">> & Pick<SamplingOptions, "logitBias">;

/** llama.cpp's defaults (common_params_sampling). */
export const DEFAULT_SAMPLING: Required<Omit<SamplingOptions, "logitBias" | "seed">> = Object.freeze({
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  typicalP: 1,
  repeatPenalty: 1,
  repeatLastN: 64,
  presencePenalty: 0,
  frequencyPenalty: 0,
});

/** The penalty window is a preallocated ring buffer; this bound keeps a typo from allocating gigabytes. */
const MAX_REPEAT_LAST_N = 1 << 20;

type NumericField = Exclude<keyof SamplingOptions, "logitBias">;

/** One rule per numeric field: a check and the words that say what was expected. */
const NUMERIC_RULES: Record<NumericField, { ok: (v: number) => boolean; expected: string }> = {
  temperature: { ok: (v) => Number.isFinite(v) && v >= 0, expected: "a finite number >= 0" },
  topK: { ok: (v) => Number.isSafeInteger(v) && v >= 0, expected: "an integer >= 0" },
  topP: { ok: (v) => v > 0 && v <= 1, expected: "in (0, 1]" },
  minP: { ok: (v) => v >= 0 && v <= 1, expected: "in [0, 1]" },
  typicalP: { ok: (v) => v > 0 && v <= 1, expected: "in (0, 1]" },
  repeatPenalty: { ok: (v) => Number.isFinite(v) && v > 0, expected: "a finite number > 0" },
  repeatLastN: { ok: (v) => Number.isSafeInteger(v) && v >= 0 && v <= MAX_REPEAT_LAST_N, expected: `an integer in [0, ${MAX_REPEAT_LAST_N}]` },
  presencePenalty: { ok: Number.isFinite, expected: "a finite number" },
  frequencyPenalty: { ok: Number.isFinite, expected: "a finite number" },
  seed: { ok: Number.isSafeInteger, expected: "a safe integer" },
};

/**
 * Checks options coming from outside (REPL, recipes, JSON) and returns a clean copy. Unknown fields are rejected
 * so that a typo ("top_p") is an error instead of silently doing nothing.
 */
export function validateSamplingOptions(o: unknown): SamplingOptions {
  if (o === undefined) return {};
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new SamplingError(`sampling options must be an object, got ${describe(o)}`);
  }
  const result: SamplingOptions = {};
  for (const [field, value] of Object.entries(o)) {
    if (value === undefined) continue;
    if (field === "logitBias") {
      result.logitBias = validateLogitBias(value);
      continue;
    }
    if (!Object.hasOwn(NUMERIC_RULES, field)) {
      throw new SamplingError(`unknown sampling option "${field}" (known: ${[...Object.keys(NUMERIC_RULES), "logitBias"].join(", ")})`);
    }
    const rule = NUMERIC_RULES[field as NumericField];
    if (typeof value !== "number" || !rule.ok(value)) {
      throw new SamplingError(`${field} must be ${rule.expected}, got ${describe(value)}`);
    }
    result[field as NumericField] = value;
  }
  return result;
}

function validateLogitBias(value: unknown): Record<number, number> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SamplingError(`logitBias must be an object mapping token ids to biases, got ${describe(value)}`);
  }
  const bias: Record<number, number> = {};
  for (const [key, b] of Object.entries(value)) {
    const id = Number(key);
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(id)) {
      throw new SamplingError(`logitBias keys must be token ids (integers >= 0), got "${key}"`);
    }
    if (typeof b !== "number" || !(Number.isFinite(b) || b === -Infinity)) {
      throw new SamplingError(`logitBias[${key}] must be a finite number or -Infinity (ban), got ${describe(b)}`);
    }
    bias[id] = b;
  }
  return bias;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}
