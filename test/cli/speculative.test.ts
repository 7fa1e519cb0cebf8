import assert from "node:assert/strict";
import { test } from "node:test";
import { runCli } from "../helpers/cli.ts";
import { noShared, sharedModel } from "../helpers/index.ts";

const model = sharedModel("stories260K.gguf");
const base = ["generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "-n", "24", "--json"];

test("generate --spec/--draft speculate, keep greedy output and report spec stats", { skip: noShared }, async () => {
  const plain = JSON.parse((await runCli(base)).stdout);
  assert.equal(plain.stats.spec_accept_rate, undefined, "no spec stats without speculation");
  for (const extra of [["--spec", "ngram", "--spec-k", "3"], ["--spec", "self:4"], ["--draft", model]]) {
    const r = await runCli([...base, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.tokens, plain.tokens, extra.join(" "));
    assert.ok(out.stats.spec_accept_rate >= 0 && out.stats.spec_accept_rate <= 1);
    assert.ok(out.stats.spec_tokens_per_step >= 1);
  }
});

for (const [args, message] of [
  [["--spec", "sideways"], /--spec.*ngram, draft or self:LAYERS/],
  [["--spec", "self:9"], /layers must be an integer from 1 to 4/],
  [["--spec", "draft"], /needs a draft model/],
  [["--spec-k", "4"], /--spec-k needs --spec/],
  [["--spec", "ngram", "--spec-k", "0"], /--spec-k.*expected an integer from 1/],
] as const) {
  test(`bad speculative flags exit 2: ${args.join(" ")}`, { skip: noShared }, async () => {
    const r = await runCli([...base, ...args]);
    assert.equal(r.code, 2, `exit code ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stderr, message);
  });
}

test("generate --early-exit reports the mean layers and their histogram", { skip: noShared }, async () => {
  const r = await runCli([...base, "--early-exit", "2:0.000001", "--exit-head", "64"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.stats.early_exit_mean_layers, Math.round(((23 * 2 + 5) / 24) * 100) / 100);
  assert.equal(out.stats.early_exit_histogram[2], 23);
  const bad = await runCli([...base, "--early-exit", "2=0.5"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--early-exit.*LAYER:THRESHOLD/);
});
