import { randomBytes } from "node:crypto";
import { GrammarError, SchemaError } from "../../sampling/grammar/errors.ts";
import { jsonSchemaToGbnf } from "../../sampling/grammar/json-schema.ts";
import type { GrammarTriggers } from "../../sampling/grammar/lazy.ts";
import type { ChatMessage } from "../template.ts";
import { partialCallObject, partialJsonString, skipSpace, type PartialCallObject } from "./partial-json.ts";
import { ToolError, type ChatTool, type ToolChoice } from "./types.ts";

/**
 * How a family of chat templates writes tool calls, after llama.cpp's common/chat.cpp (one handler per format):
 *  - hermes: `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, one block per call (Qwen2.5, Qwen3,
 *    QwQ, Hermes 2 Pro / 3); a lazy grammar triggered by `<tool_call>`.
 *  - llama3: the whole answer is `{"name": ..., "parameters": {...}}` (Llama 3.1/3.2/3.3; their templates take
 *    one call per turn); triggered by `{` at the start of the answer.
 *  - mistral: `[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]` (Mistral Nemo and the v3 tokenizer
 *    templates); triggered by `[TOOL_CALLS]`. The 9-character call ids the templates want are ours, not the
 *    model's (llama.cpp lets the model write them; an id known from the start is what streaming needs).
 *  - generic: templates that know no tools (Phi-3.5 ...): the tools are described in a system message and the
 *    whole answer is JSON, `{"tool_calls": [...]}` (or `{"tool_call": ...}`) or `{"response": "..."}`.
 */
export type ToolFamilyName = "hermes" | "llama3" | "mistral" | "generic";

/** A call as far as the output has written it (arguments: JSON text so far). */
export interface PartialToolCall {
  name?: string;
  arguments: string;
  done: boolean;
}

/** The answer split into its prose and its calls (`calls` as far as written). */
export interface ParsedAnswer {
  content: string;
  calls: PartialToolCall[];
}

export interface ToolGrammar {
  gbnf: string;
  root: string;
  /** Set for a lazy grammar (tool_choice "auto" in the families that mark calls). */
  triggers?: GrammarTriggers;
}

export interface ToolFamily {
  readonly name: ToolFamilyName;
  /** Whether one answer may hold several calls. */
  readonly parallel: boolean;
  /** The conversation as this family's template takes it, and the template variables for the tools. */
  render(messages: readonly ChatMessage[], tools: readonly ChatTool[], choice: ToolChoice): { messages: ChatMessage[]; variables: Record<string, unknown> };
  grammar(tools: readonly ChatTool[], choice: ToolChoice, parallel: boolean): ToolGrammar;
  /** The answer so far; with `calling` false (tool_choice "none") it is all prose. */
  parse(answer: string): ParsedAnswer;
  newCallId(): string;
}

/** The family of a chat template, from the markers its source writes. */
export function toolFamilyOf(templateSource: string): ToolFamily {
  if (templateSource.includes("[TOOL_CALLS]")) return MISTRAL;
  if (templateSource.includes("<tool_call>")) return HERMES;
  if (templateSource.includes("<|start_header_id|>") && templateSource.includes("ipython")) return LLAMA3;
  return GENERIC;
}

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
function randomId(n: number): string {
  return [...randomBytes(n)].map((b) => ALNUM[b % ALNUM.length]).join("");
}

/** The call objects the tool choice allows, as one JSON Schema: {name: const, ARGS: parameters}, name first. */
function callSchema(tools: readonly ChatTool[], choice: ToolChoice, argumentsKey: string): Record<string, unknown> {
  const named = typeof choice === "object" ? choice.function.name : undefined;
  const calls = tools.flatMap((t, i) => {
    if (named !== undefined && t.function.name !== named) return [];
    const parameters = t.function.parameters ?? { type: "object" };
    try {
      jsonSchemaToGbnf(parameters); // checked alone, so an error names this tool
    } catch (e) {
      if (e instanceof SchemaError || e instanceof GrammarError) throw new ToolError(`tools.${i}.function.parameters`, e.message);
      throw e;
    }
    return [{
      type: "object",
      properties: { name: { const: t.function.name }, [argumentsKey]: parameters },
      required: ["name", argumentsKey],
      additionalProperties: false,
    }];
  });
  return calls.length === 1 ? calls[0]! : { anyOf: calls };
}

/** The grammar of the call object (start symbol "root") with `wrapper` rules, starting at tools-root. */
function wrapped(tools: readonly ChatTool[], choice: ToolChoice, argumentsKey: string, wrapper: string, triggers: GrammarTriggers | undefined): ToolGrammar {
  const gbnf = `${jsonSchemaToGbnf(callSchema(tools, choice, argumentsKey))}${wrapper}\n`;
  return { gbnf, root: "tools-root", ...(choice === "auto" && triggers && { triggers }) };
}

function toolMessagesAsIs(messages: readonly ChatMessage[], tools: readonly ChatTool[]) {
  return { messages: [...messages], variables: tools.length > 0 ? { tools } : {} };
}

function called(o: PartialCallObject): PartialToolCall {
  return { ...(o.name !== undefined && { name: o.name }), arguments: o.arguments ?? "", done: o.end !== undefined };
}

/** Prose before `marker` (less any tail that may be the marker's start), and the text from it on. */
function splitAt(answer: string, marker: string): { content: string; rest: string | undefined } {
  const at = answer.indexOf(marker);
  if (at >= 0) return { content: answer.slice(0, at).trimEnd(), rest: answer.slice(at + marker.length) };
  for (let n = Math.min(marker.length - 1, answer.length); n > 0; n--) {
    if (marker.startsWith(answer.slice(answer.length - n))) return { content: answer.slice(0, answer.length - n), rest: undefined };
  }
  return { content: answer, rest: undefined };
}

const HERMES: ToolFamily = {
  name: "hermes",
  parallel: true,
  render: toolMessagesAsIs,
  grammar: (tools, choice, parallel) => wrapped(tools, choice, "arguments",
    `tools-root ::= tools-call${parallel ? ' ("\\n" tools-call)*' : ""}\ntools-call ::= "<tool_call>\\n" root "\\n</tool_call>"`,
    { texts: ["<tool_call>"] }),
  parse(answer) {
    const { content, rest } = splitAt(answer, "<tool_call>");
    const calls: PartialToolCall[] = [];
    let text = rest;
    while (text !== undefined) {
      const o = partialCallObject(text, 0, "arguments");
      calls.push(called(o));
      if (o.end === undefined) break;
      const next = text.indexOf("<tool_call>", o.end);
      text = next < 0 ? undefined : text.slice(next + "<tool_call>".length);
    }
    return { content, calls };
  },
  newCallId: () => `call_${randomId(24)}`,
};

const LLAMA3: ToolFamily = {
  name: "llama3",
  parallel: false,
  render: toolMessagesAsIs,
  grammar: (tools, choice) => wrapped(tools, choice, "parameters", "tools-root ::= root", { texts: ["{"], atStart: true }),
  parse(answer) {
    const start = skipSpace(answer, 0);
    if (answer[start] !== "{") return { content: answer, calls: [] };
    return { content: "", calls: [called(partialCallObject(answer, start, "parameters"))] };
  },
  newCallId: () => `call_${randomId(24)}`,
};

const MISTRAL: ToolFamily = {
  name: "mistral",
  parallel: true,
  render: toolMessagesAsIs,
  grammar: (tools, choice, parallel) => wrapped(tools, choice, "arguments",
    `tools-root ::= "[TOOL_CALLS]" "[" root${parallel ? ' ("," " "? root)*' : ""} "]"`, { texts: ["[TOOL_CALLS]"] }),
  parse(answer) {
    const { content, rest } = splitAt(answer, "[TOOL_CALLS]");
    const calls: PartialToolCall[] = [];
    if (rest !== undefined) {
      let i = skipSpace(rest, 0);
      if (rest[i] === "[") {
        i++;
        for (;;) {
          const o = partialCallObject(rest, i, "arguments");
          calls.push(called(o));
          if (o.end === undefined) break;
          i = skipSpace(rest, o.end);
          if (rest[i] !== ",") break;
          i++;
        }
      }
    }
    return { content, calls };
  },
  newCallId: () => randomId(9),
};

const GENERIC: ToolFamily = {
  name: "generic",
  parallel: true,
  render(messages, tools, choice) {
    if (tools.length === 0 || choice === "none") return { messages: messages.map(genericHistory), variables: {} };
    const schema = genericSchema(tools, choice, true);
    const instructions = `You can call these tools:\n${JSON.stringify(tools)}\n\n` +
      `Respond in JSON format${choice === "auto" ? ", either with `tool_calls` (a request to call tools) or with `response` (a reply to the user's request)" : " with `tool_calls`"}, valid against this schema:\n${JSON.stringify(schema)}`;
    const out = messages.map(genericHistory);
    if (out[0]?.role === "system") out[0] = { ...out[0], content: `${out[0].content}\n\n${instructions}` };
    else out.unshift({ role: "system", content: instructions });
    return { messages: out, variables: {} };
  },
  grammar: (tools, choice, parallel) => ({ gbnf: jsonSchemaToGbnf(genericSchema(tools, choice, parallel)), root: "root" }),
  parse(answer) {
    let i = skipSpace(answer, 0);
    if (answer[i] !== "{") return { content: answer, calls: [] };
    i = skipSpace(answer, i + 1);
    const key = answer.startsWith('"response"', i) ? "response" : answer.startsWith('"tool_calls"', i) ? "tool_calls" : answer.startsWith('"tool_call"', i) ? "tool_call" : undefined;
    if (key === undefined) return { content: "", calls: [] };
    i = skipSpace(answer, i + key.length + 2);
    if (answer[i] !== ":") return { content: "", calls: [] };
    i = skipSpace(answer, i + 1);
    if (key === "response") return { content: answer[i] === '"' ? partialJsonString(answer, i).value : "", calls: [] };
    if (key === "tool_call") return { content: "", calls: answer[i] === "{" ? [called(partialCallObject(answer, i, "arguments"))] : [] };
    const calls: PartialToolCall[] = [];
    if (answer[i] !== "[") return { content: "", calls };
    i++;
    for (;;) {
      i = skipSpace(answer, i);
      if (answer[i] !== "{") break;
      const o = partialCallObject(answer, i, "arguments");
      calls.push(called(o));
      if (o.end === undefined) break;
      i = skipSpace(answer, o.end);
      if (answer[i] !== ",") break;
      i++;
    }
    return { content: "", calls };
  },
  newCallId: () => `call_${randomId(24)}`,
};

/** What the generic format's answer may be: calls, or (with "auto") a reply. */
function genericSchema(tools: readonly ChatTool[], choice: ToolChoice, parallel: boolean): Record<string, unknown> {
  const call = callSchema(tools, choice, "arguments");
  const calls = parallel
    ? { type: "object", properties: { tool_calls: { type: "array", items: call, minItems: 1 } }, required: ["tool_calls"], additionalProperties: false }
    : { type: "object", properties: { tool_call: call }, required: ["tool_call"], additionalProperties: false };
  if (choice !== "auto") return calls;
  return { anyOf: [calls, { type: "object", properties: { response: { type: "string" } }, required: ["response"], additionalProperties: false }] };
}

/** Earlier calls and their results as a template without tools can show them: JSON in ordinary turns. */
function genericHistory(m: ChatMessage): ChatMessage {
  if (m.role === "assistant" && m.toolCalls?.length) {
    const calls = m.toolCalls.map((c) => ({ name: c.name, arguments: parseArguments(c.arguments), id: c.id }));
    return { role: "assistant", content: JSON.stringify({ tool_calls: calls }) };
  }
  if (m.role === "tool") return { role: "user", content: JSON.stringify({ tool_response: { ...(m.name !== undefined && { tool: m.name }), ...(m.toolCallId !== undefined && { id: m.toolCallId }), content: m.content } }) };
  return m;
}

/** A call's arguments as the templates take them: the JSON value (its text when it is not JSON). */
export function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
