import { z } from "zod";
import type { Engine } from "../core/engine.ts";
import type { GenerateOptions } from "../core/generation.ts";
import { GrammarError, SchemaError } from "../core/sampling/grammar/errors.ts";
import { jsonSchemaToGbnf } from "../core/sampling/grammar/json-schema.ts";
import { badRequest } from "./errors.ts";

const nullish = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

/** OpenAI's response_format: plain text, any JSON object, or JSON valid against a schema. */
export const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().min(1),
      description: nullish(z.string()),
      schema: nullish(z.record(z.string(), z.unknown())),
      // Every schema is enforced by the grammar; strict: false does not loosen that.
      strict: nullish(z.boolean()),
    }),
  }),
], { error: "expected {type: \"text\"}, {type: \"json_object\"} or {type: \"json_schema\", json_schema: {name, schema}}" });
export type ResponseFormat = z.infer<typeof responseFormat>;

/**
 * The request's generation options constrained to its response_format. The schema is compiled to a grammar here,
 * before any reply is sent, so one the converter cannot enforce is a 400 naming the keyword even when streaming
 * (compiled grammars are cached by the engine, so repeated schemas compile once). A recipe's own grammar or
 * schema gives way to the request's format.
 */
export function withResponseFormat(options: GenerateOptions, engine: Engine, format: ResponseFormat | undefined): GenerateOptions {
  if (format === undefined || format.type === "text") return options;
  const schema = format.type === "json_object" ? { type: "object" } : (format.json_schema.schema ?? { type: "object" });
  const param = format.type === "json_object" ? "response_format" : "response_format.json_schema.schema";
  try {
    const { grammar: _g, jsonSchema: _j, schema: _s, ...rest } = options;
    return { ...rest, grammar: engine.grammar(jsonSchemaToGbnf(schema)) };
  } catch (e) {
    if (e instanceof SchemaError || e instanceof GrammarError) throw badRequest(`${param}: ${e.message}`, param);
    throw e;
  }
}
