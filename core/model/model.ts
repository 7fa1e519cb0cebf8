import { readGguf, type GgufFile } from "../gguf/index.ts";
import { native, type NativeKvCache, type NativeModel, type NativeStepBatch, type NativeDraftStep } from "../native.ts";
import { loadTokenizer, type Tokenizer } from "../tokenizer/index.ts";
import { readHparams, type ModelHparams } from "./hparams.ts";
import { weightTable } from "./weights.ts";

export type KvType = "f16" | "f32" | "q8_0";

/**
 * Which of llama.cpp's arithmetics the forward reproduces, bit for bit. "prompt" (the engine's default): as
 * llama.cpp computes a generation (llama-completion, llama-server, node-llama-cpp): a prompt's tokens as it
 * computes the prompt evaluated as one batch (core/model/row-arithmetic.ts: its batched Q4_K order in ubatches of
 * 4+ tokens, its tiled flash attention in ubatches of 64+), generated tokens as lone tokens. "token": every token
 * as a lone token (llama.cpp fed one token at a time). "batch": every token as in a batch of 64 or more, which is
 * what llama-perplexity evaluates each chunk with. In each a token's result does not depend on what else is in
 * the step.
 */
export type Arithmetic = "prompt" | "token" | "batch";
export const ARITHMETICS: readonly Arithmetic[] = ["prompt", "token", "batch"];

function nativeConfig(hparams: ModelHparams, arithmetic: Arithmetic) {
  return { ...hparams, batchArithmetic: arithmetic === "batch" };
}

/**
 * A loaded GGUF model: its header, hyperparameters, tokenizer and the native weights (mmapped).
 * Everything that can be wrong with the file is reported by load(), before any forward runs.
 */
export class Model {
  private constructor(
    readonly file: GgufFile,
    readonly hparams: ModelHparams,
    readonly tokenizer: Tokenizer,
    private readonly nativeModel: NativeModel,
    readonly arithmetic: Arithmetic,
  ) {}

  static load(path: string, arithmetic: Arithmetic = "prompt"): Model {
    const file = readGguf(path);
    const hparams = readHparams(file);
    const tokenizer = loadTokenizer(file);
    // No background work: the file is read inside load() and forward() only (the head's estimate copy, if any, is
    // made by the first forward).
    const nativeModel = new native.Model({
      path, config: nativeConfig(hparams, arithmetic), tensors: weightTable(file, hparams), headEstimate: "on-demand",
    });
    return new Model(file, hparams, tokenizer, nativeModel, arithmetic);
  }

  /**
   * As load, with the weights packed on a worker thread while the tokenizer loads on this one, and a float head's
   * estimate copy made by a background thread of idle priority until the first forward: the file must not change
   * from here to that forward.
   */
  static async loadAsync(path: string, arithmetic: Arithmetic = "prompt"): Promise<Model> {
    const file = readGguf(path);
    const hparams = readHparams(file);
    const nativeModel = new native.Model({ path, config: nativeConfig(hparams, arithmetic), tensors: weightTable(file, hparams), packAsync: true });
    const ready = nativeModel.ready();
    let tokenizer: Tokenizer;
    try {
      tokenizer = loadTokenizer(file);
    } catch (e) {
      // The build's own failure matters less than the file's; a built model stops reading its file.
      await ready.then(() => nativeModel.dispose(), () => undefined);
      throw e;
    }
    await ready;
    return new Model(file, hparams, tokenizer, nativeModel, arithmetic);
  }

  get path(): string {
    return this.file.path;
  }

  /** Bytes of K and V one token takes across all layers, or across the layers `which` selects. */
  kvBytesPerToken(type: KvType, which: "all" | "window" | "global" = "all"): number {
    const window = this.windowLayers()?.reduce((n, v) => n + v, 0) ?? 0;
    const layers = which === "all" ? this.hparams.nLayer : which === "window" ? window : this.hparams.nLayer - window;
    const elements = layers * 2 * this.hparams.nHeadKv * this.hparams.headDim;
    // q8_0: blocks of 32 int8 values and one f16 scale.
    return type === "f32" ? elements * 4 : type === "f16" ? elements * 2 : (elements / 32) * 34;
  }

  /**
   * The sliding-window layers (one flag per layer) whose K/V a KV cache can keep in blocks of their own, and the
   * window; undefined for a model without them, or whose every layer has the window (nothing would be left for
   * the main blocks).
   */
  windowLayers(): Uint8Array | undefined {
    const { nSwa, swaLayers } = this.hparams.family ?? {};
    if (!nSwa || !swaLayers) return undefined;
    const n = swaLayers.reduce((a, v) => a + (v ? 1 : 0), 0);
    return n > 0 && n < this.hparams.nLayer ? swaLayers : undefined;
  }

  get window(): number {
    return this.hparams.family?.nSwa ?? 0;
  }

  /** nWindowBlocks > 0 (a model with windowLayers()): the sliding-window layers get that many blocks of their own. */
  createKvCache(nBlocks: number, blockSize: number, type: KvType, nWindowBlocks = 0): NativeKvCache {
    const { nLayer, nHeadKv, headDim } = this.hparams;
    const windowLayers = nWindowBlocks > 0 ? this.windowLayers() : undefined;
    if (nWindowBlocks > 0 && !windowLayers) throw new RangeError("this model has no sliding-window layers to keep apart");
    return new native.KvCache({
      nLayer, nBlocks, blockSize, kvDim: nHeadKv * headDim, type, ...(windowLayers ? { windowLayers, nWindowBlocks } : {}),
    });
  }

  /**
   * The context size the model runs with: LongRoPE models (phi3) take their long factors for contexts longer than
   * the original one, else the short ones (the default), as llama.cpp chooses by its context size.
   */
  setContextSize(contextSize: number): void {
    const original = this.hparams.family?.ropeOrigContext;
    if (original !== undefined) this.nativeModel.useLongRope(contextSize > original);
  }

  /** Head rows (token ids) of forwards with draftHead set (greedy drafting's reduced head); empty = none. */
  setDraftHead(tokenIds: Int32Array): void {
    this.nativeModel.setDraftHead(tokenIds);
  }

  /**
   * As a draft model of `target`: drafts on the target's Q8_0 estimate copy of its head when that copy holds exactly
   * this model's packed Q8_0 head (a q4_0/q8_0 file quantized from the f32/f16/bf16 target), so that drafting and
   * verifying read one head, not two. Returns whether the head is shared; outputs are unchanged either way.
   */
  shareHeadWith(target: Model): boolean {
    return this.nativeModel.shareHeadWith(target.nativeModel);
  }

  /** Head rows (token ids) the early-exit confidence test uses; empty = the full head. */
  setExitHead(tokenIds: Int32Array): void {
    this.nativeModel.setExitHead(tokenIds);
  }

  /** A greedy drafting round of this (draft) model, to run in the same native call as the verifying step. */
  draftStep(kv: NativeKvCache, batch: NativeStepBatch, tokenOffsets: Int32Array, nextSteps?: Int32Array): NativeDraftStep {
    return { model: this.nativeModel, kv, batch, tokenOffsets, ...(nextSteps ? { nextSteps } : {}) };
  }

  /** One engine step: all tokens of all scheduled sequences, off the event loop. */
  forward(kv: NativeKvCache, batch: NativeStepBatch): Promise<void> {
    return this.nativeModel.forward(kv, batch);
  }
}
