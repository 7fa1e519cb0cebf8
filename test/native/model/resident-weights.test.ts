import assert from "node:assert/strict";
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { test } from "node:test";
import { Engine } from "../../../core/engine.ts";
import { nativeKernels } from "../../../core/native-kernels.ts";
import { noShared, sharedModel } from "../../helpers/index.ts";

/** Resident bytes of this process's mappings of `file` (the Rss lines of /proc/self/smaps). */
function residentBytes(file: string): number {
  let total = 0, inFile = false;
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) inFile = header[1] === file;
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (inFile && rss) total += Number(rss[1]) * 1024;
  }
  return total;
}

const skip = noShared || (!existsSync("/proc/self/smaps") && "needs /proc/self/smaps") ||
  (!nativeKernels.cpuFeatures().variants.includes("avx512") && "matrices are packed for the AVX-512 kernels only");

test("Q8_0 weights are resident once: read in place until batches come, then packed and their file pages released", { skip }, async () => {
  // Every matrix of stories15M-q8_0 is Q8_0 (the head tied to the token embedding). smaps names the file by its real path.
  const file = realpathSync(sharedModel("stories15M-q8_0.gguf"));
  const engine = await Engine.load({ model: file, threads: 2, contextSize: 256 });
  const size = statSync(file).size;
  const embedding = engine.model.file.tensors.find((t) => t.name === "token_embd.weight")!.nBytes;
  const afterLoad = residentBytes(file);
  assert.ok(afterLoad < 0.05 * size, `${afterLoad} of the file's ${size} bytes resident after load`);
  // A short prompt (one batch of 5 rows) and single-row steps read the matrices in place: no packed copies yet.
  const short = await engine.generate("Once upon a time", { temperature: 0, maxTokens: 32 });
  assert.equal(short.tokens.length, 32);
  const inPlace = residentBytes(file);
  assert.ok(inPlace > 0.8 * size, `${inPlace} of the file's ${size} bytes resident after decoding in place`);
  // A prompt of 16+ tokens packs them: the file's pages go, and decoding reads the packed copies and a few
  // embedding rows (read back from the head's copy) with the same results.
  await engine.generate("One day, a little girl named Lily found a needle in her room. She knew it was difficult to play with it because it was sharp.", { temperature: 0, maxTokens: 4 });
  const afterPacking = residentBytes(file);
  assert.ok(afterPacking < afterLoad + 0.1 * embedding, `${afterPacking} bytes resident after a long prompt (${afterLoad} after load)`);
  const again = await engine.generate("Once upon a time", { temperature: 0, maxTokens: 32 });
  assert.deepEqual(again.tokens, short.tokens);
  const afterDecode = residentBytes(file);
  assert.ok(afterDecode < afterLoad + 0.1 * embedding, `${afterDecode} bytes resident after decoding packed (${afterLoad} after load)`);
  engine.close();
});
