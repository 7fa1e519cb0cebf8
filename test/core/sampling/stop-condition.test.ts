import { test } from "node:test";
import assert from "node:assert/strict";
import { StopCondition } from "../../../core/sampling/index.ts";

test("max tokens ends the generation after exactly that many tokens, releasing held text", () => {
  const c = new StopCondition({ maxTokens: 3, stop: ["END"] });
  assert.deepEqual(c.next("a"), { emit: "a", finished: null });
  assert.deepEqual(c.next("b E"), { emit: "b ", finished: null });
  assert.deepEqual(c.next("N"), { emit: "EN", finished: "length" });
});

test("a stop string wins over the budget when both happen on the same token", () => {
  const c = new StopCondition({ maxTokens: 2, stop: ["END"] });
  c.next("x E");
  assert.deepEqual(c.next("ND"), { emit: "", finished: "stop" });
});

test("no options: never finishes by itself; flush returns held text", () => {
  const c = new StopCondition();
  for (let i = 0; i < 1000; i++) assert.equal(c.next("t").finished, null);
  assert.equal(new StopCondition({ stop: ["<|"] }).flush(), "");
});

test("bad maxTokens is rejected", () => {
  for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => new StopCondition({ maxTokens: bad }), /maxTokens must be an integer >= 1/);
});
