import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { readGguf } from "../../../core/gguf/index.ts";
import { Model } from "../../../core/model/model.ts";
import { noShared, prng } from "../../helpers/index.ts";
import { writeSyntheticModel } from "../../helpers/synthetic-model.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Errors that are bugs in our code rather than reports about the file. */
const BUG_ERRORS = [TypeError, ReferenceError, SyntaxError];

test("5,000 mutations of a valid model: each loads and runs, or fails with a clear error", { skip: noShared, timeout: 600_000 }, async () => {
  const valid = path.join(dir, "valid.gguf");
  writeSyntheticModel(valid, { architecture: "llama", nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 64, seed: 5 });
  const original = readFileSync(valid);
  const headerEnd = readGguf(valid).dataOffset;
  const rand = prng(2024);
  const int = (n: number) => Math.floor(rand() * n);
  const mutated = path.join(dir, "mutated.gguf");
  const outcomes = { loaded: 0, rejected: 0 };

  for (let i = 0; i < 5000; i++) {
    let bytes = Buffer.from(original);
    const kind = int(10);
    if (kind < 6) {
      // Flip 1-4 bytes, mostly in the header where the structure lives.
      for (let j = 0, n = 1 + int(4); j < n; j++) bytes[int(rand() < 0.85 ? headerEnd : bytes.length)] = int(256);
    } else if (kind < 8) {
      // Overwrite a little-endian u64/u32 field with an extreme value.
      const at = int(headerEnd - 8);
      if (kind === 6) bytes.writeBigUInt64LE([0n, 1n, 0xffffffffn, 1n << 40n, (1n << 64n) - 1n][int(5)]!, at);
      else bytes.writeUInt32LE([0, 1, 0x7fffffff, 0xffffffff][int(4)]!, at);
    } else if (kind === 8) {
      bytes = bytes.subarray(0, int(bytes.length));
    } else {
      const at = int(headerEnd);
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([int(256), int(256), int(256)]), bytes.subarray(at)]);
    }
    writeFileSync(mutated, bytes);
    try {
      const model = Model.load(mutated);
      const kv = model.createKvCache(2, 16, "f16");
      const logits = new Float32Array(model.hparams.nVocab);
      await model.forward(kv, {
        tokens: Int32Array.of(1, 5, 9), positions: Int32Array.of(0, 1, 2), seqIds: new Int32Array(3),
        blockTables: Int32Array.of(0), tableOffsets: Int32Array.of(0, 1), logitRows: Int32Array.of(2), logits,
      });
      outcomes.loaded++;
    } catch (e) {
      assert.ok(e instanceof Error, `mutation ${i}: threw a non-Error ${String(e)}`);
      assert.ok(!BUG_ERRORS.some((t) => e.constructor === t), `mutation ${i} (kind ${kind}): ${e.constructor.name}: ${e.message}`);
      assert.ok(e.message.length > 10, `mutation ${i}: unclear message '${e.message}'`);
      outcomes.rejected++;
    }
  }
  assert.equal(outcomes.loaded + outcomes.rejected, 5000);
  assert.ok(outcomes.rejected > 1000, `only ${outcomes.rejected} mutations were rejected: the fuzzer is not reaching the parser`);
});
