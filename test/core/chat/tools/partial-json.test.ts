import { test } from "node:test";
import assert from "node:assert/strict";
import { jsonValueEnd, partialCallObject, partialJsonString } from "../../../../core/chat/tools/partial-json.ts";

test("jsonValueEnd: the end of a complete value, -1 inside one", () => {
  assert.equal(jsonValueEnd('{"a": "}"} x', 0), 10);
  assert.equal(jsonValueEnd('  [1, {"b": "\\""}]', 0), 18);
  assert.equal(jsonValueEnd('{"a": [1, 2', 0), -1);
  assert.equal(jsonValueEnd("12", 0), -1, "a number at the end may go on");
  assert.equal(jsonValueEnd("12}", 0), 2);
});

test("partialJsonString: the value so far, a half escape left out", () => {
  assert.deepEqual(partialJsonString('"ab\\n', 0), { value: "ab\n", done: false });
  assert.deepEqual(partialJsonString('"ab\\u00', 0), { value: "ab", done: false });
  assert.deepEqual(partialJsonString('"ab\\"c" rest', 0), { value: 'ab"c', done: true });
});

test("partialCallObject: name once complete, arguments' text as far as written, in any key order", () => {
  const whole = '{"name": "get_weather", "arguments": {"city": "Paris"}}';
  for (let n = 0; n <= whole.length; n++) {
    const o = partialCallObject(whole.slice(0, n), 0, "arguments");
    if (n >= '{"name": "get_weather"'.length) assert.equal(o.name, "get_weather");
    else assert.equal(o.name, undefined);
    if (o.arguments !== undefined) assert.ok('{"city": "Paris"}'.startsWith(o.arguments), `${n}: ${o.arguments}`);
  }
  const done = partialCallObject(whole + " tail", 0, "arguments");
  assert.deepEqual(done, { name: "get_weather", arguments: '{"city": "Paris"}', argumentsDone: true, end: whole.length });
  assert.equal(partialCallObject('{"parameters": {"x": 1}, "name": "f"}', 0, "parameters").name, "f");
});
