import { createRequire } from "node:module";
import { packageRoot } from "./package.ts";

/** The typed surface of the C++ addon (native/addon.cc). Only core/ talks to it. */
export interface NativeTensorRef { type: number; offset: number; nBytes: number; cols: number; rows: number }

export interface NativeModelConfig {
  nVocab: number; nEmbd: number; nLayer: number; nHead: number; nHeadKv: number; headDim: number; nFf: number;
  ropeDim: number; ropeNeox: boolean; ropeBase: number; ropeFreqScale: number; rmsEps: number;
  /** Compute as llama.cpp computes a batch of 64+ tokens (ModelConfig::batch_arithmetic); default false. */
  batchArithmetic?: boolean;
  /** Q and K norms over the whole projection (olmoe) instead of per head. */
  qkNormFull?: boolean;
  /** Mixture of experts (every layer): expert count, experts per token, an expert's hidden width. */
  nExpert?: number;
  nExpertUsed?: number;
  nFfExp?: number;
  /** Renormalise the selected experts' probabilities to sum to one (llama.cpp's norm_w for the architecture). */
  expertWeightsNorm?: boolean;
  /** Hidden width of the shared expert every token uses besides its chosen ones (qwen2moe); absent: none. */
  nFfShared?: number;
  /** gemma2/gemma3, phi3, granite particulars (core/model/families.ts); absent: as llama. */
  family?: NativeFamilyConfig;
}

/** FamilyConfig in native/model/family.h: 0 / absent means "as llama". */
export interface NativeFamilyConfig {
  embdScale?: number; qScale?: number; attnScale?: number; attnSoftcap?: number; finalSoftcap?: number;
  residualScale?: number; logitScale?: number; gelu?: boolean;
  /** Sliding window (positions a query sees, itself included) of the layers swaLayers marks (one byte per layer). */
  nSwa?: number; swaLayers?: Uint8Array; ropeBaseSwa?: number; ropeFreqScaleSwa?: number;
  /** LongRoPE (phi3): cos and sin times this; the long factors apply to contexts longer than ropeOrigContext. */
  ropeAttnFactor?: number; ropeOrigContext?: number;
}

export interface NativeModelSpec {
  path: string;
  config: NativeModelConfig;
  tensors: Record<string, NativeTensorRef>;
  /**
   * A float head's Q8_0 estimate copy (greedy steps): made by a background thread of idle priority from load on
   * ("background", the default), or only when the second greedy step needs it ("on-demand": tests). Either way the
   * first greedy step never waits for it.
   */
  headEstimate?: "background" | "on-demand";
  /** Packs the weights on a worker thread: the constructor returns at once, and the model is for use once ready() settles. */
  packAsync?: boolean;
}

/** One engine step, all typed arrays: see StepBatch in native/model/transformer.h. */
export interface NativeStepBatch {
  tokens: Int32Array;
  positions: Int32Array;
  seqIds: Int32Array;
  blockTables: Int32Array;
  tableOffsets: Int32Array;
  /**
   * With a KV cache whose sliding-window layers have blocks of their own (windowLayers): each sequence's window
   * table, laid out as blockTables (logical blocks; -1 for blocks before every token's window).
   */
  windowBlockTables?: Int32Array;
  windowTableOffsets?: Int32Array;
  logitRows: Int32Array;
  logits: Float32Array;
  /** Run only the first nLayers layers before the final norm and head (self-drafting); default all. */
  nLayers?: number;
  /** Early exit (decode steps): see ExitPlan in native/model/transformer.h; exitLayersUsed is written back. */
  exitLayers?: Int32Array;
  exitThresholds?: Float32Array;
  exitLayersUsed?: Int32Array;
  /**
   * Greedy drafting in one call (see native/model/greedy_chain.h): logit row s must be sequence s's last token;
   * sequence s then drafts greedySteps[s] tokens (argmax fed back at the next positions) into
   * greedyTokens[s * max(greedySteps) ...]. With the draft head, `logits` ends up holding the last forward's rows.
   */
  greedySteps?: Int32Array;
  greedyTokens?: Int32Array;
  /** Logits over the draft head's tokens only (setDraftHead), each row that many wide. */
  draftHead?: boolean;
  /**
   * Greedy rows: argmax[r] receives the index of logit row r's largest logit (first of equal maxima; -1 when none
   * is finite) instead of the row being written to `logits`. Exactly the scan of the full row, computed with
   * less of the head's work where the weights allow (matmul_argmax, native/kernels/matmul.h). Not with early
   * exit, the draft head or greedy drafting.
   */
  argmax?: Int32Array;
  /**
   * Per-token arithmetic flags (core/model/row-arithmetic.ts; StepBatch::row_arithmetic): which of llama.cpp's paths
   * computes each token. Default: every token the model's arithmetic ("batch": all batched, else none).
   */
  rowArithmetic?: Uint8Array;
  /** Threads this forward runs on, at most the engine's (default: all of them); 1 runs it without parallel
   *  sections on one thread. */
  threads?: number;
  /** A speculative step in one call: this greedy drafting round runs first, then this batch with the drafted tokens. */
  draft?: NativeDraftStep;
}

/**
 * The drafting half of a one-call speculative step: the draft model's greedy chain (`batch` sets greedySteps and
 * greedyTokens); drafting sequence s's greedySteps[s] tokens are then written into the verifying batch's tokens from
 * index tokenOffsets[s], before that batch's forward runs.
 */
export interface NativeDraftStep {
  model: NativeModel;
  kv: NativeKvCache;
  batch: NativeStepBatch;
  tokenOffsets: Int32Array;
  /**
   * One drafting sequence verified by argmax: entry a (k + 1 of them) is the length of the sequence's next draft
   * after a accepted drafts (0: no next draft). The step then starts that next chain itself, on a thread of its own
   * (it knows from the verify's argmax what the chain feeds), while JavaScript handles the step; a next step whose
   * chain is exactly that one takes its tokens (the same forwards: the same tokens) instead of drafting. Its
   * positions must lie in the sequence's block table.
   */
  nextSteps?: Int32Array;
}

export interface NativeKvCache {
  readonly bytes: number;
  /** Copies a block's K/V of every layer of its pool: the main pool's, or (window true) the window layers' pool's. */
  copyBlock(src: number, dst: number, window?: boolean): void;
}

/**
 * A paged KV cache: nBlocks blocks of blockSize positions for every layer, or, with windowLayers (one flag per
 * layer) and nWindowBlocks, nBlocks for the unflagged layers and nWindowBlocks for the flagged (sliding-window)
 * ones, each addressed through its own block tables.
 */
export interface NativeKvCacheOptions {
  nLayer: number;
  nBlocks: number;
  blockSize: number;
  kvDim: number;
  type: "f16" | "f32" | "q8_0";
  windowLayers?: Uint8Array;
  nWindowBlocks?: number;
}
export interface NativeModel {
  forward(kv: NativeKvCache, batch: NativeStepBatch): Promise<void>;
  /** Head rows (token ids) for the early-exit confidence test; empty = the full head. */
  setExitHead(tokenIds: Int32Array): void;
  /** Head rows (token ids) of batches with draftHead set; empty = none. */
  setDraftHead(tokenIds: Int32Array): void;
  /**
   * A draft model: reads the target's argmax estimate copy of its head instead of its own packed head when the two
   * hold the same bytes (its own is freed, and the target kept alive). Returns whether it does.
   */
  shareHeadWith(target: NativeModel): boolean;
  /** LongRoPE: the long factors (true) or the short ones (the default); no effect without LongRoPE factors. */
  useLongRope(long: boolean): void;
  /** Whether greedy steps estimate the head through its Q8_0 copy now (false for heads that get none). */
  headEstimateReady(): boolean;
  /** Settles when the model is built (packAsync), at once otherwise; rejects with what failed. */
  ready(): Promise<void>;
  /** Frees the weights and unmaps the file now (after ready()); the model cannot run again. */
  dispose(): void;
}

export interface NativeAddon {
  Model: new (spec: NativeModelSpec) => NativeModel;
  KvCache: new (o: NativeKvCacheOptions) => NativeKvCache;
  setThreads(n: number): void;
  /** Speculative steps whose chain was drafted ahead (NativeDraftStep.nextSteps) / was not, in this process. */
  aheadDraftStats?(): { hits: number; misses: number };
  /** The batch attention's vectorized expf (ggml_v_expf) against its one-lane reference on the float bit patterns
   *  [firstBits, firstBits + count): mismatching patterns and the first (-1: none, or no vector path on this CPU). */
  batchExpfMismatches?(firstBits: number, count: number): { mismatches: number; firstMismatchBits: number };
}

const require = createRequire(import.meta.url);
/** node-gyp-build: the package's own build (build/Release) if there is one, else the prebuild for this platform. */
const loadBinding = require("node-gyp-build") as (root: string) => unknown;
/** INFER_REPL_ADDON selects another build of the addon (e.g. the AddressSanitizer one of scripts/asan.sh). */
export const native = (process.env.INFER_REPL_ADDON ? require(process.env.INFER_REPL_ADDON) : loadBinding(packageRoot)) as NativeAddon;
