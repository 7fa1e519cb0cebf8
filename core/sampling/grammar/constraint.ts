import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { ZodType } from "zod";
import type { FinishReason } from "../../scheduler/sequence.ts";
import { GrammarError, SchemaError } from "./errors.ts";
import type { Grammar } from "./grammar.ts";
import { jsonSchemaToGbnf } from "./json-schema.ts";
import type { GrammarTriggers } from "./lazy.ts";
import { AFTER_THINKING_ROOT, afterThinking, THINK_CLOSE, type ThinkingStart } from "./thinking.ts";

/**
 * zod's toJSONSchema, loaded on the first request with a zod schema: zod is ~70 modules, which every engine used to
 * load at start-up (tens of ms). A request is checked synchronously, so this is require() of zod's ES module build
 * (Node >= 20.19): the same module instance `import "zod"` gives, so the caller's zod registry (ids, descriptions)
 * is the one read.
 */
function zodToJsonSchema(): typeof import("zod").toJSONSchema {
  return (createRequire(import.meta.url)(fileURLToPath(import.meta.resolve("zod"))) as typeof import("zod")).toJSONSchema;
}

const ZOD_FORMATS_WITHIN_GRAMMAR = new Set(["uuid", "email", "date", "date-time", "ipv4"]);

/** What a request's output must match: the grammar, and how to turn the finished text into its value. */
export interface OutputConstraint {
  readonly grammar: Grammar;
  /** A lazy grammar's triggers: the output is free until one appears (see GrammarTriggers). */
  readonly triggers?: GrammarTriggers;
  /** Where a reasoning model's think block stands at the start of the output. */
  readonly thinking?: ThinkingStart;
  parse?(text: string, finish: FinishReason): unknown;
}

export interface ConstraintOptions {
  grammar?: string | Grammar;
  jsonSchema?: object | string;
  schema?: ZodType;
  grammarTriggers?: GrammarTriggers;
  thinking?: ThinkingStart;
}

/**
 * The constraint a request asks for (at most one of grammar, jsonSchema, schema), or undefined. `compile` turns
 * GBNF text into a Grammar for the engine's vocabulary (the engine caches them, so requests with the same
 * grammar share its masks). Bad grammars and schemas throw GrammarError / SchemaError naming what is wrong.
 */
export function resolveConstraint(options: ConstraintOptions, compile: (gbnf: string, root?: string) => Grammar): OutputConstraint | undefined {
  const c = resolveGrammar(options, compile);
  if (!c) {
    if (options.grammarTriggers !== undefined) throw new GrammarError("grammarTriggers need a grammar, jsonSchema or schema");
    return undefined;
  }
  const { triggers, thinking } = { triggers: options.grammarTriggers, thinking: options.thinking };
  if (triggers !== undefined && (!Array.isArray(triggers.texts) || triggers.texts.length === 0 || triggers.texts.some((t) => typeof t !== "string" || t === ""))) {
    throw new GrammarError("grammarTriggers.texts must be a non-empty array of non-empty strings");
  }
  // A lazy grammar starts at its trigger, which is searched for after the think block; an eager one holds the
  // output from its start, so the think block goes into the grammar.
  if (triggers) return { ...c, triggers, ...(thinking && { thinking }) };
  if (!thinking) return c;
  const parse = c.parse;
  return {
    grammar: compile(afterThinking(c.grammar.source, c.grammar.root, thinking), AFTER_THINKING_ROOT),
    thinking,
    // The value is the answer's: the text after the think block.
    ...(parse && { parse: (text: string, finish: FinishReason) => parse(answerAfterThinking(text), finish) }),
  };
}

function resolveGrammar(options: ConstraintOptions, compile: (gbnf: string) => Grammar): OutputConstraint | undefined {
  const given = (["grammar", "jsonSchema", "schema"] as const).filter((k) => options[k] !== undefined);
  if (given.length > 1) throw new GrammarError(`give one of grammar, jsonSchema and schema, not ${given.join(" and ")}`);
  if (options.grammar !== undefined) {
    const g = options.grammar;
    if (typeof g !== "string" && !(typeof g === "object" && g !== null && "machine" in g)) {
      throw new GrammarError(`grammar must be GBNF text or a compiled Grammar, got ${typeof g}`);
    }
    return { grammar: typeof g === "string" ? compile(g) : g };
  }
  if (options.jsonSchema !== undefined) {
    const schema = typeof options.jsonSchema === "string" ? parseSchemaText(options.jsonSchema) : options.jsonSchema;
    return { grammar: compile(jsonSchemaToGbnf(schema)), parse: parseJson };
  }
  if (options.schema !== undefined) {
    const zod = options.schema;
    if (typeof (zod as { safeParse?: unknown }).safeParse !== "function") throw new SchemaError("schema must be a zod schema");
    let json: object;
    try {
      json = zodToJsonSchema()(zod, {
        unrepresentable: "throw",
        // zod writes its format checks as format + pattern. For these formats the grammar's language is a subset
        // of zod's own regular expression (checked against zod 4's), and zod parses the output anyway.
        override: (ctx) => {
          const js = ctx.jsonSchema as { format?: string; pattern?: string };
          if (js.format !== undefined && js.pattern !== undefined && ZOD_FORMATS_WITHIN_GRAMMAR.has(js.format)) delete js.pattern;
        },
      });
    } catch (e) {
      throw new SchemaError(`schema: zod cannot express it as JSON Schema: ${(e as Error).message}`);
    }
    return {
      grammar: compile(jsonSchemaToGbnf(json)),
      parse: (text, finish) => {
        const r = zod.safeParse(parseJson(text, finish));
        if (!r.success) throw new SchemaError(`the output does not satisfy the schema: ${r.error.message}`);
        return r.data;
      },
    };
  }
  return undefined;
}

function answerAfterThinking(text: string): string {
  const close = text.indexOf(THINK_CLOSE);
  return close < 0 ? text : text.slice(close + THINK_CLOSE.length).trimStart();
}

function parseSchemaText(text: string): object {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" && typeof v !== "boolean") throw new Error("not an object");
    return v as object;
  } catch (e) {
    throw new SchemaError(`jsonSchema is not valid JSON: ${(e as Error).message}`);
  }
}

function parseJson(text: string, finish: FinishReason): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const why = finish === "length" ? "it ran out of tokens (raise maxTokens)" : `it ended with "${finish}"`;
    throw new SchemaError(`the output is not complete JSON: ${why}`);
  }
}
