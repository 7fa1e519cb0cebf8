import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { noShared, sharedModel } from "../helpers/index.ts";

const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const model = sharedModel("stories260K.gguf");

/** Argument lists (with stdin) that must exit 2 with a message naming the problem. */
const badArguments: [string, string[], string | Buffer, RegExp][] = [
  ["unknown flag", ["-m", model, "--bogus"], "hi\n", /unknown option '--bogus'/],
  ["temperature that is not a number", ["-m", model, "--temp", "warm"], "hi\n", /--temp.*expected a number/],
  ["negative token count", ["-m", model, "-n", "-5"], "hi\n", /-n, --n-predict.*expected an integer/],
  ["zero threads", ["-m", model, "-t", "0"], "hi\n", /--threads.*expected an integer from 1/],
  ["top-p above one", ["-m", model, "--top-p", "3"], "hi\n", /--top-p.*above 0 and at most 1/],
  // Issue 19: every sampling flag is checked against the sampler's range before a model loads.
  ["top-p of zero", ["generate", "-m", path.join(dir, "absent.gguf"), "-p", "hi", "--top-p", "0"], "", /^infer-repl: option '--top-p <p>' argument '0' is invalid\. expected a number above 0 and at most 1/],
  ["typical of zero", ["generate", "-m", path.join(dir, "absent.gguf"), "-p", "hi", "--typical", "0"], "", /--typical <p>.*above 0 and at most 1/],
  ["repeat penalty of zero", ["generate", "-m", path.join(dir, "absent.gguf"), "-p", "hi", "--repeat-penalty", "0"], "", /--repeat-penalty <x>.*above 0/],
  ["min-p above one", ["generate", "-m", path.join(dir, "absent.gguf"), "-p", "hi", "--min-p", "1.5"], "", /--min-p <p>.*from 0 to 1/],
  ["negative temperature", ["generate", "-m", path.join(dir, "absent.gguf"), "-p", "hi", "--temp", "-1"], "", /--temp <t>.*from 0 to 100/],
  ["top-k that is not an integer", ["generate", "-m", path.join(dir, "absent.gguf"), "-p", "hi", "--top-k", "2.5"], "", /--top-k <k>.*integer/],
  ["repeat window that is negative", ["generate", "-m", path.join(dir, "absent.gguf"), "-p", "hi", "--repeat-last-n", "-1"], "", /--repeat-last-n <n>.*integer from 0/],
  ["seed out of range", ["generate", "-m", path.join(dir, "absent.gguf"), "-p", "hi", "--seed", "4294967296"], "", /--seed <n>.*4294967295/],
  ["unknown command option, in the common prefix", ["generate", "--bogus"], "", /^infer-repl: unknown option '--bogus'/],
  ["kv type that does not exist", ["-m", model, "--kv-type", "q3"], "hi\n", /--kv-type.*q3/],
  ["missing model file", ["-m", path.join(dir, "absent.gguf")], "hi\n", /absent\.gguf.* is not a file/],
  ["no prompts on stdin", ["-m", model], "\n\n", /no prompts/],
  ["generate without a prompt", ["generate", "-m", model], "", /no prompt/],
  ["prompt longer than the context", ["-m", model, "-c", "8"], "Once upon a time there was a very long prompt indeed\n", /context holds 8/],
  ["detokenize of an id outside the vocabulary", ["detokenize", "-m", model], "[1, 99999]", /99999/],
  ["detokenize of something that is not JSON", ["detokenize", "-m", model], "1 2 3", /JSON array/],
  ["tokenize of bytes that are not UTF-8", ["tokenize", "-m", model], Buffer.from([0xff, 0xfe, 0x41]), /UTF-8/],
  ["bench with a bad --parallel list", ["bench", "-m", model, "--parallel", "1,x"], "", /--parallel/],
  ["tune with an unknown target", ["tune", "-m", model, "--target", "fast"], "", /--target <t>.*expected latency, throughput or both/],
  ["tune for both without a p99 bound", ["tune", "-m", model, "--target", "both"], "", /--target both needs --p99-ms/],
  ["tune writing a recipe that is not TypeScript", ["tune", "-m", model, "-o", "tuned.js"], "", /-o: a recipe is a TypeScript file/],
  ["tune with a missing prompts file", ["tune", "-m", model, "--prompts", path.join(dir, "absent.txt")], "", /--prompts .*absent\.txt: no such file/],
  ["tune with a budget of zero", ["tune", "-m", model, "--budget", "0"], "", /--budget <s>.*above 0/],
  ["tune of a recipe that does not exist", ["tune", path.join(dir, "absent.ts")], "", /absent\.ts: no such recipe file/],
];

for (const [name, args, stdin, message] of badArguments) {
  test(`bad input exits 2 with a clear message: ${name}`, { skip: noShared }, async () => {
    const r = await runCli(args, stdin);
    assert.equal(r.code, 2, `exit code ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });
}

test("a corrupt model file exits 2 naming the file and the problem", { skip: noShared }, async () => {
  const bytes = readFileSync(model);
  bytes.writeBigUInt64LE(1n << 50n, 16); // metadata count far beyond the file
  const corrupt = path.join(dir, "corrupt.gguf");
  writeFileSync(corrupt, bytes);
  for (const args of [["-m", corrupt], ["info", corrupt], ["generate", "-m", corrupt, "-p", "x"]]) {
    const r = await runCli(args, "hi\n");
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, /corrupt\.gguf: metadata count/);
  }
});
