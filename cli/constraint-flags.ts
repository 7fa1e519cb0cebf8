import { readFileSync } from "node:fs";
import { parseGbnf } from "../core/sampling/grammar/gbnf.ts";
import { jsonSchemaToGbnf } from "../core/sampling/grammar/json-schema.ts";
import type { GenerateOptions } from "../core/generation.ts";
import { UsageError } from "./errors.ts";

/**
 * `--grammar FILE` and `--json-schema FILE|JSON` as generate options, checked before any model loads: an
 * unreadable file, malformed GBNF (line and column) or a schema keyword that cannot be enforced is a UsageError
 * (exit 2).
 */
export function readConstraintFlags(flags: { grammar?: string; jsonSchema?: string }): Pick<GenerateOptions, "grammar" | "jsonSchema"> {
  if (flags.grammar !== undefined && flags.jsonSchema !== undefined) throw new UsageError("give --grammar or --json-schema, not both");
  if (flags.grammar !== undefined) {
    const source = readFlagFile("--grammar", flags.grammar);
    try {
      // Token references (<...>) need the model's vocabulary: those are checked when the model is loaded.
      if (!/<[^[]/.test(source)) parseGbnf(source);
    } catch (e) {
      throw new UsageError(`--grammar ${flags.grammar}: ${(e as Error).message}`);
    }
    return { grammar: source };
  }
  if (flags.jsonSchema !== undefined) {
    const text = /^\s*[{[]|^\s*(true|false)\s*$/.test(flags.jsonSchema) ? flags.jsonSchema : readFlagFile("--json-schema", flags.jsonSchema);
    let schema: object;
    try {
      schema = JSON.parse(text) as object;
    } catch (e) {
      throw new UsageError(`--json-schema: not valid JSON: ${(e as Error).message}`);
    }
    try {
      jsonSchemaToGbnf(schema);
    } catch (e) {
      throw new UsageError(`--json-schema: ${(e as Error).message}`);
    }
    return { jsonSchema: schema };
  }
  return {};
}

function readFlagFile(flag: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
