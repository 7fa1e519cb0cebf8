import { GgufError } from "./errors.ts";
import type { GgufFile } from "./reader.ts";
import type { GgufArray } from "./types.ts";

/** Typed access to metadata; a missing or mistyped key is a GgufError naming it. */
export function getString(f: GgufFile, key: string): string;
export function getString(f: GgufFile, key: string, fallback: string | undefined): string | undefined;
export function getString(f: GgufFile, key: string, ...fallback: [string?]): string | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) {
    if (fallback.length) return fallback[0];
    throw new GgufError(f.path, `missing metadata key '${key}'`);
  }
  if (typeof v !== "string") throw new GgufError(f.path, `metadata '${key}' should be a string`);
  return v;
}

export function getNumber(f: GgufFile, key: string): number {
  const v = getOptionalNumber(f, key);
  if (v === undefined) throw new GgufError(f.path, `missing metadata key '${key}'`);
  return v;
}

export function getOptionalNumber(f: GgufFile, key: string): number | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new GgufError(f.path, `metadata '${key}' should be a number`);
  return v;
}

export function getArray(f: GgufFile, key: string): GgufArray | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== "object" || !("items" in v)) throw new GgufError(f.path, `metadata '${key}' should be an array`);
  return v;
}
