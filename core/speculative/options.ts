/** How a request speculates: who proposes the draft tokens, and how many at most per step. */
export interface SpeculativeOptions {
  /** "draft": the engine's draft model (EngineOptions.draftModel); "ngram": prompt lookup in the sequence's own
   *  tokens; "self": the target's first `layers` layers. */
  mode: "draft" | "ngram" | "self";
  /** Most draft tokens per step (default 4, 8 for ngram); the number actually drafted adapts between 1 and k. */
  k?: number;
  /** Self-drafting: layers the draft runs (required for mode "self"). */
  layers?: number;
  /** Greedy drafting with the draft model: "seen" (default) computes the draft's logits over the tokens seen so
   *  far only (core/speculative/draft-vocabulary.ts), "full" over the whole vocabulary. */
  draftHead?: "seen" | "full";
}

export interface ResolvedSpeculativeOptions {
  mode: SpeculativeOptions["mode"];
  k: number;
  layers: number;
  draftHead: "seen" | "full";
}

// Default k by proposer, measured with bench/speculative.ts on stories15M (f32 target, q4_0 draft): a model
// draft costs a forward per token, and k = 3-4 beat 8, whose 9-row verify costs more than its extra accepted
// tokens bring; n-gram drafts cost nothing and long accepted runs pay, so it keeps 8. The adaptive length then
// moves between 1 and k.
export const DEFAULT_SPEC_K = 4;
export const DEFAULT_NGRAM_K = 8;
export const MAX_SPEC_K = 64;

/** Checks the options against the target model (its layer count) and what the engine loaded. */
export function resolveSpeculativeOptions(o: SpeculativeOptions, nLayer: number, hasDraftModel: boolean): ResolvedSpeculativeOptions {
  if (typeof o !== "object" || o === null) throw new RangeError("speculative must be an object");
  if (o.mode !== "draft" && o.mode !== "ngram" && o.mode !== "self") {
    throw new RangeError(`speculative.mode must be "draft", "ngram" or "self", got ${String(o.mode)}`);
  }
  const k = o.k ?? (o.mode === "ngram" ? DEFAULT_NGRAM_K : DEFAULT_SPEC_K);
  if (!Number.isInteger(k) || k < 1 || k > MAX_SPEC_K) throw new RangeError(`speculative.k must be an integer from 1 to ${MAX_SPEC_K}, got ${k}`);
  if (o.mode === "draft" && !hasDraftModel) throw new RangeError('speculative mode "draft" needs a draft model: load the engine with draftModel');
  let layers = 0;
  if (o.mode === "self") {
    layers = o.layers ?? -1;
    if (!Number.isInteger(layers) || layers < 1 || layers >= nLayer) {
      throw new RangeError(`speculative.layers must be an integer from 1 to ${nLayer - 1} for self-drafting, got ${o.layers}`);
    }
  }
  const draftHead = o.draftHead ?? "seen";
  if (draftHead !== "seen" && draftHead !== "full") throw new RangeError(`speculative.draftHead must be "seen" or "full", got ${String(o.draftHead)}`);
  return { mode: o.mode, k, layers, draftHead };
}

/** Parses the CLI's `--spec ngram|draft|self:L`. */
export function parseSpecMode(text: string): Pick<SpeculativeOptions, "mode" | "layers"> {
  if (text === "ngram" || text === "draft") return { mode: text };
  const m = /^self:(\d+)$/.exec(text);
  if (m) return { mode: "self", layers: Number(m[1]) };
  throw new RangeError(`expected ngram, draft or self:LAYERS, got '${text}'`);
}
