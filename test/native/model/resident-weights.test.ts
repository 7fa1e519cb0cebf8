import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
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

test("weights are resident once: a packed matrix's file pages are released at load and stay untouched while decoding", { skip }, async () => {
  // Every matrix of stories15M-q8_0 but the token embedding (only looked up) gets a packed copy.
  const file = sharedModel("stories15M-q8_0.gguf");
  const engine = await Engine.load({ model: file, threads: 2, contextSize: 256 });
  const size = statSync(file).size;
  const embedding = engine.model.file.tensors.find((t) => t.name === "token_embd.weight")!.nBytes;
  const afterLoad = residentBytes(file);
  assert.ok(afterLoad < 0.05 * size, `${afterLoad} of the file's ${size} bytes resident after load`);
  const r = await engine.generate("Once upon a time", { temperature: 0, maxTokens: 32 });
  assert.equal(r.tokens.length, 32);
  // Decoding reads the packed copies and a few embedding rows: the file's other pages stay out.
  const afterDecode = residentBytes(file);
  assert.ok(afterDecode < afterLoad + 0.1 * embedding, `${afterDecode} bytes resident after decoding (${afterLoad} after load)`);
  engine.close();
});
