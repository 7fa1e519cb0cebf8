import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_SAMPLING, SamplingError, validateSamplingOptions } from "../../../core/sampling/index.ts";

test("defaults are llama.cpp's", () => {
  assert.deepEqual(DEFAULT_SAMPLING, {
    temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, typicalP: 1,
    repeatPenalty: 1, repeatLastN: 64, presencePenalty: 0, frequencyPenalty: 0,
  });
});

test("valid options come back as a clean copy; undefined fields are dropped", () => {
  const input = { temperature: 0, topK: 0, topP: 1, minP: 0, typicalP: 0.5, repeatPenalty: 1.1, repeatLastN: 0,
    presencePenalty: -0.5, frequencyPenalty: 0.2, seed: 42, logitBias: { 5: -Infinity, 7: 1.5 }, unused: undefined };
  const { unused, ...rest } = input;
  void unused;
  assert.deepEqual(validateSamplingOptions(input), rest);
  assert.deepEqual(validateSamplingOptions(undefined), {});
  assert.deepEqual(validateSamplingOptions(JSON.parse('{"logitBias": {"3": -2}}')), { logitBias: { 3: -2 } });
});

test("wrong types and ranges are rejected with the field and the expectation in the message", () => {
  const cases: [unknown, RegExp][] = [
    [{ topP: 3 }, /^topP must be in \(0, 1\], got 3$/],
    [{ topP: 0 }, /^topP must be in \(0, 1\], got 0$/],
    [{ temperature: -1 }, /^temperature must be a finite number >= 0, got -1$/],
    [{ temperature: "hot" }, /^temperature must be a finite number >= 0, got "hot"$/],
    [{ temperature: NaN }, /^temperature must be .*, got NaN$/],
    [{ topK: 2.5 }, /^topK must be an integer >= 0, got 2.5$/],
    [{ topK: -1 }, /^topK must be an integer >= 0, got -1$/],
    [{ minP: 1.5 }, /^minP must be in \[0, 1\], got 1.5$/],
    [{ typicalP: null }, /^typicalP must be in \(0, 1\], got null$/],
    [{ repeatPenalty: 0 }, /^repeatPenalty must be a finite number > 0, got 0$/],
    [{ repeatLastN: -1 }, /^repeatLastN must be an integer in \[0, 1048576\], got -1$/],
    [{ repeatLastN: 1e9 }, /^repeatLastN must be an integer in \[0, 1048576\], got 1000000000$/],
    [{ presencePenalty: Infinity }, /^presencePenalty must be a finite number, got Infinity$/],
    [{ frequencyPenalty: [1] }, /^frequencyPenalty must be a finite number, got an array$/],
    [{ seed: 1.5 }, /^seed must be a safe integer, got 1.5$/],
    [{ logitBias: [1, 2] }, /^logitBias must be an object mapping token ids to biases, got an array$/],
    [{ logitBias: { abc: 1 } }, /^logitBias keys must be token ids \(integers >= 0\), got "abc"$/],
    [{ logitBias: { "-3": 1 } }, /^logitBias keys must be token ids/],
    [{ logitBias: { 3: Infinity } }, /^logitBias\[3\] must be a finite number or -Infinity \(ban\), got Infinity$/],
    [{ logitBias: { 3: "1" } }, /^logitBias\[3\] must be .*, got "1"$/],
    [{ top_p: 0.5 }, /^unknown sampling option "top_p" \(known: .*topP.*\)$/],
    [{ toString: 1 }, /^unknown sampling option "toString"/],
    ["fast", /^sampling options must be an object, got "fast"$/],
    [null, /^sampling options must be an object, got null$/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => validateSamplingOptions(input), (e: unknown) => {
      assert.ok(e instanceof SamplingError, `${JSON.stringify(input)} threw ${String(e)}`);
      assert.match(e.message, message);
      return true;
    });
  }
});
