import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

/** The repository root and the shared assets beside it (CI clones the repo with shared/ next to it). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const sharedDir = path.resolve(repoRoot, "../shared");
export const modelsDir = path.join(sharedDir, "models");

export function sharedModel(name: string): string {
  return path.join(modelsDir, name);
}

/** A skip reason when ../shared is missing, for test(..., { skip }). */
export const noShared: string | false = existsSync(modelsDir) ? false : `../shared/models not found beside ${repoRoot}`;
