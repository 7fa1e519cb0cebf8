import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Ajv } from "ajv";
import { GgufValueType } from "../../../core/gguf/index.ts";
import { ToolError, type ChatCompletionStream, type ChatCompletionResult } from "../../../core/chat/index.ts";
import { Engine } from "../../../core/engine.ts";
import { writeScriptedModel } from "../../helpers/synthetic-model.ts";
import { noShared } from "../../helpers/index.ts";
import { TOOL_MODELS, TWO_TOOLS } from "../../helpers/tool-models.ts";
import { skipNoVocabs } from "../tokenizer/fixtures.ts";
import { chatTemplate, END_THINK, IM_END, QWEN2_VOCAB, THINK, writeQwen3Thinker } from "./models.ts";

const skip = noShared || skipNoVocabs;
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-tools-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const ajv = new Ajv();
const validArguments = new Map(TWO_TOOLS.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const MESSAGES = [{ role: "user", content: "What is the weather in Paris, and the time in Tokyo?" }];

/** The turn, with the tool calls rebuilt from the stream's deltas beside the result's. */
async function run(s: ChatCompletionStream): Promise<ChatCompletionResult & { streamed: { id: string; name: string; arguments: string }[] }> {
  const streamed: { id: string; name: string; arguments: string }[] = [];
  for await (const e of s) {
    for (const d of e.toolCalls) {
      if (d.id !== undefined) streamed[d.index] = { id: d.id, name: d.name!, arguments: "" };
      streamed[d.index]!.arguments += d.arguments;
    }
  }
  return { ...(await s.result), streamed };
}

function assertValidCalls(r: ChatCompletionResult, what: string): void {
  assert.ok(r.toolCalls.length >= 1, `${what}: no tool call in ${JSON.stringify(r)}`);
  assert.equal(r.finishReason, "tool_calls", what);
  for (const c of r.toolCalls) {
    const valid = validArguments.get(c.name);
    assert.ok(valid, `${what}: unknown tool ${c.name}`);
    assert.ok(valid(JSON.parse(c.arguments)), `${what}: ${c.arguments}: ${JSON.stringify(valid.errors)}`);
  }
}

// One model per family here (the server's acceptance test runs every model): temperature 1, a named function,
// and the history round trip.
const ONE_PER_FAMILY = TOOL_MODELS.filter((m, i) => TOOL_MODELS.findIndex((o) => o.family === m.family) === i);

for (const m of ONE_PER_FAMILY) {
  test(`${m.name} (${m.family}): tool_choice required gives valid calls at temperature 0 and 1, streamed deltas equal to the result; a named function is the one called`, { skip }, async () => {
    const file = path.join(dir, `${m.name}.gguf`);
    m.write(file);
    const engine = await Engine.load({ model: file, threads: 2, contextSize: 1024, kvMemoryMiB: 32 });
    try {
      for (const temperature of [0, 1]) {
        const r = await run(engine.chatCompletion(MESSAGES, { tools: TWO_TOOLS, toolChoice: "required", temperature, seed: 7, maxTokens: 96 }));
        assertValidCalls(r, `${m.name} t=${temperature}`);
        assert.deepEqual(r.streamed, r.toolCalls, "the deltas add up to the calls");
        assert.equal(r.content, "");
      }
      const named = await run(engine.chatCompletion(MESSAGES, { tools: TWO_TOOLS, toolChoice: { type: "function", function: { name: "get_weather" } }, temperature: 1, seed: 3, maxTokens: 96 }));
      assertValidCalls(named, `${m.name} named`);
      assert.ok(named.toolCalls.every((c) => c.name === "get_weather"));
      // The calls and their results go back into the conversation through the template.
      const history = [...MESSAGES, { role: "assistant", content: "", toolCalls: named.toolCalls.slice(0, 1) }, { role: "tool", content: "{\"temp\": 21}", toolCallId: named.toolCalls[0]!.id, name: "get_weather" }];
      const next = await engine.chatCompletion(history, { tools: TWO_TOOLS, toolChoice: "none", temperature: 0, maxTokens: 4 }).result;
      assert.deepEqual(next.toolCalls, []);
      assert.ok(next.generation.promptTokens.length > (await engine.chatCompletion(MESSAGES, { tools: TWO_TOOLS, toolChoice: "none", maxTokens: 1 }).result).generation.promptTokens.length);
    } finally {
      engine.close();
      rmSync(file, { force: true });
    }
  });
}

const TOOL_CALL = 151657, END_TOOL_CALL = 151658;

test("auto: prose stays free until the model writes <tool_call>; from there the grammar holds the call", { skip }, async () => {
  const file = path.join(dir, "qwen25-scripted.gguf");
  // After the generation prompt's "\n": "Sure thing" then <tool_call> then "hello", which no call allows.
  writeScriptedModel(file, {
    architecture: "qwen2", nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, vocabFrom: QWEN2_VOCAB, contextLength: 2048,
    renameTokens: new Map([[TOOL_CALL, { text: "<tool_call>", type: 4 }], [END_TOOL_CALL, { text: "</tool_call>", type: 4 }]]),
    extraMetadata: [["tokenizer.chat_template", chatTemplate("Qwen-Qwen2.5-7B-Instruct")], ["tokenizer.ggml.eos_token_id", { type: GgufValueType.UINT32, value: IM_END }]],
  }, [198, 39814, 3166, TOOL_CALL, 14990]);
  const engine = await Engine.load({ model: file, threads: 2, contextSize: 1024, kvMemoryMiB: 32 });
  try {
    // One call (no parallel calls): the grammar then ends, where this script would go on to call again.
    const auto = await run(engine.chatCompletion(MESSAGES, { tools: TWO_TOOLS, parallelToolCalls: false, temperature: 0, maxTokens: 64 }));
    assert.equal(auto.content, "Sure thing");
    assertValidCalls(auto, "auto");
    assert.match(auto.generation.text, /^Sure thing<tool_call>\n\{/);
    assert.deepEqual(auto.streamed, auto.toolCalls);
    // "none": no grammar, no calls: the scripted text as it is.
    const none = await engine.chatCompletion(MESSAGES, { tools: TWO_TOOLS, toolChoice: "none", temperature: 0, maxTokens: 4 }).result;
    assert.equal(none.content, "Sure thing<tool_call>hello");
    assert.deepEqual(none.toolCalls, []);
    assert.equal(none.finishReason, "length");
  } finally {
    engine.close();
  }
});

test("a reasoning model thinks freely, then the grammar holds its answer: tool calls and JSON schemas", { skip }, async () => {
  const file = path.join(dir, "qwen3-thinker.gguf");
  // "\n" <think> "hmm" "\n\n" </think> "\n\n" "xyz": the script's answer is not JSON nor a call.
  writeQwen3Thinker(file, [198, THINK, 71, 3821, 271, END_THINK, 28854]);
  const engine = await Engine.load({ model: file, threads: 2, contextSize: 1024, kvMemoryMiB: 32 });
  try {
    // The budget counts a completion in single-byte tokens: room for the think block's close and a whole call.
    const calls = await engine.chatCompletion(MESSAGES, { tools: TWO_TOOLS, toolChoice: "required", parallelToolCalls: false, temperature: 0, maxTokens: 160 }).result;
    assert.equal(calls.reasoning, "hmm");
    assertValidCalls(calls, "after thinking");
    const schema = { type: "object", properties: { city: { type: "string", maxLength: 8 } }, required: ["city"], additionalProperties: false };
    const session = await engine.chat();
    const turn = await session.prompt("A city as JSON", { jsonSchema: schema, temperature: 0, maxTokens: 96 }).result;
    assert.equal(turn.thinking, "hmm");
    assert.ok(ajv.validate(schema, JSON.parse(turn.answer)), turn.answer);
    const direct = await engine.generate(`<|im_start|>user\nA city<|im_end|>\n<|im_start|>assistant\n`, { parseSpecial: true, jsonSchema: schema, thinking: "may-think", temperature: 0, maxTokens: 96 });
    assert.match(direct.text, /^<think>hmm\n\n<\/think>/);
    assert.deepEqual(Object.keys(direct.value as object), ["city"], "the value is the answer's, after the think block");
    // Thinking switched off: the template closes an empty block in the prompt and the grammar holds from the start.
    const off = await session.prompt("Again", { jsonSchema: schema, enableThinking: false, temperature: 0, maxTokens: 48 }).result;
    assert.equal(off.thinking, "");
    assert.ok(ajv.validate(schema, JSON.parse(off.answer)), off.answer);
  } finally {
    engine.close();
  }
});

test("bad tools and tool choices are ToolErrors naming the field", { skip }, async () => {
  const file = path.join(dir, "qwen25-bad.gguf");
  TOOL_MODELS[0]!.write(file);
  const engine = await Engine.load({ model: file, threads: 1, contextSize: 512, kvMemoryMiB: 16 });
  try {
    const field = async (options: object) => {
      try {
        await engine.chatCompletion(MESSAGES, options).result;
      } catch (e) {
        assert.ok(e instanceof ToolError, String(e));
        return e.field;
      }
      assert.fail("no error");
    };
    assert.equal(await field({ tools: "f" }), "tools");
    assert.equal(await field({ tools: [{ type: "function", function: { name: "a b" } }] }), "tools.0.function.name");
    assert.equal(await field({ tools: [...TWO_TOOLS, TWO_TOOLS[0]] }), "tools.2.function.name");
    assert.equal(await field({ tools: TWO_TOOLS, toolChoice: { type: "function", function: { name: "nope" } } }), "tool_choice.function.name");
    assert.equal(await field({ tools: TWO_TOOLS, toolChoice: "sometimes" }), "tool_choice");
    assert.equal(await field({ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", not: {} } } }], toolChoice: "required" }), "tools.0.function.parameters");
    assert.equal(await field({ tools: TWO_TOOLS, toolChoice: "required", jsonSchema: { type: "object" } }), "tool_choice");
  } finally {
    engine.close();
  }
});
