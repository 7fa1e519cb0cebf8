export function jsonSchemaToGbnf(schema: unknown): string { throw new Error("todo " + String(schema)); }
