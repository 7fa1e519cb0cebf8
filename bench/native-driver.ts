// Drives the native Model directly (no Engine): one sequence, a private KV cache, greedy steps. Used by the
// kernel benchmark and for checking greedy output against llama.cpp's reference continuations.
import { readGguf } from "../core/gguf/index.ts";
import { readHparams, type ModelHparams } from "../core/model/hparams.ts";
import { weightTable } from "../core/model/weights.ts";
import { native, type NativeKvCache, type NativeModel } from "../core/native.ts";

const BLOCK_SIZE = 16;

export class NativeDriver {
  private kv!: NativeKvCache;
  private pos = 0;
  readonly logits: Float32Array;

  private constructor(readonly hp: ModelHparams, private readonly model: NativeModel, private readonly maxTokens: number) {
    this.logits = new Float32Array(hp.nVocab);
    this.reset();
  }

  /** Loads a GGUF file; the pool is set to `threads` for every model (the addon has one pool). */
  static open(path: string, threads: number, maxTokens = 1024): NativeDriver {
    native.setThreads(threads);
    const f = readGguf(path);
    const hp = readHparams(f);
    return new NativeDriver(hp, new native.Model({ path: f.path, config: hp, tensors: weightTable(f, hp) }), maxTokens);
  }

  /** Forgets the sequence (fresh KV cache). */
  reset(): void {
    const nBlocks = Math.ceil(this.maxTokens / BLOCK_SIZE);
    this.kv = new native.KvCache({ nLayer: this.hp.nLayer, nBlocks, blockSize: BLOCK_SIZE, kvDim: this.hp.nHeadKv * this.hp.headDim, type: "f16" });
    this.pos = 0;
  }

  /** Appends tokens to the sequence in one forward; afterwards `logits` holds the last token's logits. */
  async step(tokens: readonly number[]): Promise<Float32Array> {
    if (this.pos + tokens.length > this.maxTokens) throw new Error(`sequence would exceed ${this.maxTokens} tokens`);
    const nBlocks = Math.ceil(this.maxTokens / BLOCK_SIZE);
    await this.model.forward(this.kv, {
      tokens: Int32Array.from(tokens),
      positions: Int32Array.from(tokens, (_, i) => this.pos + i),
      seqIds: new Int32Array(tokens.length),
      blockTables: Int32Array.from({ length: nBlocks }, (_, i) => i),
      tableOffsets: Int32Array.of(0, nBlocks),
      logitRows: Int32Array.of(tokens.length - 1),
      logits: this.logits,
    });
    this.pos += tokens.length;
    return this.logits;
  }

  /** Greedy continuation of `prompt` for n tokens. */
  async greedy(prompt: readonly number[], n: number): Promise<number[]> {
    const out: number[] = [];
    let feed = [...prompt];
    for (let i = 0; i < n; i++) {
      const logits = await this.step(feed);
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
      out.push(best);
      feed = [best];
    }
    return out;
  }
}
