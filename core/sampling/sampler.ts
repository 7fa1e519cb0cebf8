import { CandidateSet } from "./candidates.ts";
import { noSampleableToken, SamplingError } from "./errors.ts";
import { applyMinP, applyTopP, applyTypical, finalWeights } from "./filters.ts";
import { LogitBias } from "./logit-bias.ts";
import { DEFAULT_SAMPLING, validateSamplingOptions, type ResolvedSamplingOptions, type SamplingOptions } from "./options.ts";
import { PenaltyWindow, penaltiesActive } from "./penalties.ts";
import { Xoshiro128 } from "./prng.ts";
import type { TokenMask } from "./grammar/grammar.ts";

/** Restricts the tokens a sampler may choose (a grammar): asked for the allowed set before every draw. */
export interface TokenConstraint {
  mask(): TokenMask;
  /** How many of these tokens, in order, the constraint allows from where it is (speculative drafts). */
  validPrefix?(tokens: readonly number[]): number;
  /** Whether the mask holds this token, asked token by token (cheaper than the mask for a few candidates). */
  allows?(token: number): boolean;
  /** mask() when it is memoized (costs no walk over the vocabulary), else undefined: the sampler then reads the
   *  mask in its top-k pass instead of checking candidates one by one. */
  memoizedMask?(): TokenMask | undefined;
}

/**
 * Candidates checked one by one against a constraint whose mask is not memoized, before building the mask: the
 * k wanted, times this. No second, wider look: a state whose best candidates are mostly refused gets its mask
 * walked and memoized, which its next visits read for free, while a wider look (1024 candidates) is paid again
 * at every visit (Qwen2.5-0.5B shape, replayed logits, loaded machine: grammar 830 µs/token with it, ~100-250
 * without).
 */
const CHECKED_PER_WANTED = 4;
const MIN_CHECKED = 64;
/**
 * The look gives up once this many candidates are checked and its rate of allowed ones so far would find fewer
 * than half the tokens wanted among all it loaded (greedy: none of the first 16 allowed). Such a state is sparse
 * (a JSON key, a punctuation slot: 2-30 allowed tokens of 32k), its mask walk cheap and memoized; checking the
 * rest of the candidates first only delayed the walk (stories15M, a schema's second array item: ~40% of tokens
 * are such new states). Giving up early only ever chooses the mask, which is exact.
 */
const SPARSE_PROBE = 16;

/**
 * One request's sampler. The chain, in llama.cpp's default order:
 *   logit bias -> penalties -> top-k -> typical -> top-p -> min-p -> temperature -> draw.
 * Temperature 0 is greedy: the argmax after logit bias and penalties; the truncation filters and the seed are
 * then skipped. A `constraint` (a grammar) removes the tokens it does not allow before the chain runs, as
 * llama.cpp's grammar sampler does when it applies first, so greedy picks the most likely allowed token. (llama.cpp runs them first; that only differs with typicalP < 1, which can drop the argmax.)
 * Filters see the untempered distribution and each renormalises over the tokens left by the previous one.
 *
 * Scratch buffers (candidate ids, keys, the dense distribution) are allocated once per sampler, sized to the
 * vocabulary (16 bytes per token, plus 8 when penalties are on), so sampling a token allocates nothing.
 */
export class Sampler {
  private resolved!: Readonly<ResolvedSamplingOptions>;
  private bias!: LogitBias;
  private penalties: PenaltyWindow | undefined;
  private readonly rng = new Xoshiro128(0);
  private readonly candidates: CandidateSet;
  private dense: Float32Array | undefined;
  private readonly constraintAllows = (t: number): boolean => this.constraint!.allows!(t);
  /** Tokens outside this constraint's mask are never drawn (set per request; undefined = any token). */
  constraint: TokenConstraint | undefined;

  constructor(readonly vocabSize: number, options?: SamplingOptions) {
    if (!Number.isSafeInteger(vocabSize) || vocabSize <= 0) {
      throw new SamplingError(`vocabSize must be a positive integer, got ${vocabSize}`);
    }
    this.candidates = new CandidateSet(vocabSize);
    this.reset(options);
  }

  /** The options in effect, defaults filled in; `seed` is the one actually used, so a run can be reproduced. */
  get options(): Readonly<SamplingOptions> {
    return this.resolved;
  }

  /**
   * Starts a new request on this sampler (reusing its scratch buffers): new options, empty penalty window,
   * PRNG reseeded.
   */
  reset(options?: SamplingOptions): void {
    const given = validateSamplingOptions(options);
    const seed = given.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
    this.resolved = Object.freeze({ ...DEFAULT_SAMPLING, ...given, seed });
    this.bias = new LogitBias(given.logitBias, this.vocabSize);
    this.penalties = penaltiesActive(this.resolved) ? new PenaltyWindow(this.vocabSize, this.resolved) : undefined;
    this.rng.seed(seed);
  }

  reseed(seed: number): void {
    validateSamplingOptions({ seed });
    this.resolved = Object.freeze({ ...this.resolved, seed });
    this.rng.seed(seed);
  }

  /** A uniform draw in [0, 1) from this request's own stream (for speculative acceptance tests), so those stay
   *  reproducible from the seed too. */
  random(): number {
    return this.rng.nextDouble();
  }

  /** Records a generated (or prompt) token for the penalty window. */
  accept(token: number): void {
    if (!Number.isInteger(token) || token < 0 || token >= this.vocabSize) {
      throw new SamplingError(`token must be an integer in [0, ${this.vocabSize}), got ${token}`);
    }
    this.penalties?.accept(token);
  }

  /**
   * True when the next token is plainly the argmax of the raw logits (temperature 0, no logit bias, no
   * penalties): the engine may then ask the native forward for that index instead of the logits row.
   */
  get argmaxSuffices(): boolean {
    return this.resolved.temperature === 0 && this.bias.empty && this.penalties === undefined && this.constraint === undefined;
  }

  /** Draws the next token. Modifies `logits` in place (logit bias and penalties are added to it), so call either
   *  `sample` or `probabilities` once per logits row, not both on the same row. */
  sample(logits: Float32Array): number {
    const greedy = this.prepare(logits);
    if (greedy !== undefined) return greedy;
    const c = this.candidates;
    const total = finalWeights(c, this.resolved.temperature);
    let remaining = this.rng.nextDouble() * total;
    for (let i = 0; i < c.count - 1; i++) {
      remaining -= c.key[c.ids[i]];
      if (remaining < 0) return c.ids[i];
    }
    return c.ids[c.count - 1]; // rounding can leave a sliver of mass past the last weight
  }

  /**
   * The distribution `sample` would draw from, as a vocabulary-sized array (zeros for filtered tokens), for
   * speculative rejection sampling. It is a view into this sampler's scratch: valid until the next call to
   * `probabilities` on this sampler; copy it to keep it. Modifies `logits` in place like `sample`, and does not
   * consume randomness.
   */
  probabilities(logits: Float32Array): Float32Array {
    const dense = (this.dense ??= new Float32Array(this.vocabSize));
    dense.fill(0);
    const greedy = this.prepare(logits);
    if (greedy !== undefined) {
      dense[greedy] = 1;
      return dense;
    }
    const c = this.candidates;
    const total = finalWeights(c, this.resolved.temperature);
    for (let i = 0; i < c.count; i++) dense[c.ids[i]] = c.key[c.ids[i]] / total;
    return dense;
  }

  /** Runs the chain up to (not including) temperature; returns the token when greedy decides it alone. */
  private prepare(logits: Float32Array): number | undefined {
    if (logits.length !== this.vocabSize) {
      throw new SamplingError(`logits must have vocabSize (${this.vocabSize}) entries, got ${logits.length}`);
    }
    const o = this.resolved;
    this.bias.apply(logits);
    this.penalties?.apply(logits);
    const c = this.candidates;
    const constraint = this.constraint;
    const wanted = o.temperature === 0 ? 1 : o.topK > 0 && o.topK < this.vocabSize ? o.topK : 0;
    let mask = constraint?.memoizedMask?.();
    if (constraint && !mask && constraint.allows && wanted > 0) {
      // The state's mask is not memoized, and building it is a walk over the vocabulary. The best `wanted`
      // allowed tokens are the first allowed ones in descending logit order: look for them among the best few
      // candidates, checked token by token; if enough are there, they are the same as the mask's top-k.
      // A first look at 1.5x the tokens wanted, a second at 4x when the first found too few but did not give up
      // (each look is a pass over the logits; a top-160 heap costs ~1.5x a top-40 one, stories15M).
      const first = Math.min(this.vocabSize, Math.max(MIN_CHECKED, wanted + (wanted >> 1)));
      const second = Math.min(this.vocabSize, wanted * CHECKED_PER_WANTED);
      c.loadTopK(logits, first);
      if (o.temperature === 0) {
        const best = firstAllowed(c, logits, this.constraintAllows);
        if (best >= 0) return best;
      } else {
        let look = c.keepFirst(wanted, this.constraintAllows, looksSparse);
        if (look === "too-few" && second > first) {
          c.loadTopK(logits, second);
          look = c.keepFirst(wanted, this.constraintAllows, looksSparse);
        }
        if (look === "kept") {
          applyTypical(c, o.typicalP);
          applyTopP(c, o.topP);
          applyMinP(c, o.minP);
          return undefined;
        }
      }
    }
    mask ??= constraint?.mask();
    if (mask?.count === 0) throw new SamplingError("the grammar allows no token here (its output cannot be written in this vocabulary)");
    // A mask listing its allowed tokens is read through the list; one listing its banned tokens (the allowed are
    // the majority) through its bits, tested only for the tokens that would make the top-k or the argmax.
    const among = mask?.allowed;
    const allowedBits = mask?.banned && mask.bits;
    if (o.temperature === 0) return among ? argmaxAmong(logits, among) : argmax(logits, allowedBits);
    if (o.topK > 0 && o.topK < this.vocabSize) c.loadTopK(logits, o.topK, among, allowedBits);
    else {
      if (mask?.banned) for (let i = 0; i < mask.banned.length; i++) logits[mask.banned[i]!] = -Infinity;
      c.loadAll(logits, among);
    }
    applyTypical(c, o.typicalP);
    applyTopP(c, o.topP);
    applyMinP(c, o.minP);
    return undefined;
  }
}

/** Whether a look that kept `kept` of the first `looked` of `loaded` candidates should give up (see SPARSE_PROBE). */
function looksSparse(kept: number, looked: number, loaded: number, wanted: number): boolean {
  return looked >= SPARSE_PROBE && 2 * kept * loaded < wanted * looked;
}

/**
 * The allowed candidate with the largest logit, the lowest id among equal ones (as a scan in id order finds it),
 * from candidates sorted by descending logit; -1 when none is allowed, or none among the first SPARSE_PROBE.
 */
function firstAllowed(c: CandidateSet, logits: Float32Array, allows: (id: number) => boolean): number {
  let best = -1;
  for (let i = 0; i < c.count; i++) {
    const id = c.ids[i]!;
    if (best >= 0 && logits[id]! < logits[best]!) break;
    if (best < 0 && looksSparse(0, i, c.count, 1)) break;
    if ((best < 0 || id < best) && allows(id)) best = id;
  }
  return best;
}

/** The allowed token (ids ascending) with the largest logit, first of equal maxima like `argmax`. */
function argmaxAmong(logits: Float32Array, among: Int32Array): number {
  let best = -1;
  let bestLogit = -Infinity;
  for (let i = 0; i < among.length; i++) {
    const t = among[i]!;
    if (logits[t]! > bestLogit) {
      bestLogit = logits[t]!;
      best = t;
    }
  }
  if (best < 0) throw noSampleableToken();
  return best;
}

/** First index of the largest logit (llama.cpp's greedy sampler also keeps the first of equal maxima), among the
 *  tokens whose bit is set in `allowed` when given. */
function argmax(logits: Float32Array, allowed?: Uint32Array): number {
  let best = -1;
  let bestLogit = -Infinity;
  for (let t = 0; t < logits.length; t++) {
    if (logits[t] > bestLogit && (!allowed || (allowed[t >>> 5]! & (1 << (t & 31))) !== 0)) {
      bestLogit = logits[t];
      best = t;
    }
  }
  if (best < 0) throw noSampleableToken();
  return best;
}
