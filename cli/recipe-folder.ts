import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { packageRoot } from "../core/package.ts";

/**
 * Makes `npx tsx RECIPE.ts` work in the folder a recipe was exported to. A recipe imports "infer-repl"; outside a
 * project that depends on it, nothing resolves that. So, only where it is missing, this links
 * node_modules/infer-repl to the running installation, node_modules/.bin/tsx to the tsx it depends on (what `npx tsx`
 * runs offline), and, when the folder has no package.json and none above it says "type": "module", writes one
 * that does (tsx would compile the recipe as CommonJS, where import.meta has no url).
 * Returns the paths it created, relative to `dir`, for the REPL to say what it did.
 */
export function prepareRecipeFolder(dir: string): string[] {
  const created: string[] = [];
  const modules = path.join(dir, "node_modules");
  if (!resolvesInferRepl(dir)) {
    mkdirSync(modules, { recursive: true });
    symlinkSync(packageRoot, path.join(modules, "infer-repl"), "junction");
    created.push("node_modules/infer-repl");
  }
  if (!hasLocalBin(dir, "tsx")) {
    const tsxCli = path.join(path.dirname(createRequire(path.join(packageRoot, "package.json")).resolve("tsx/package.json")), "dist/cli.mjs");
    mkdirSync(path.join(modules, ".bin"), { recursive: true });
    symlinkSync(tsxCli, path.join(modules, ".bin", "tsx"));
    created.push("node_modules/.bin/tsx");
  }
  if (!esmScope(dir) && !existsSync(path.join(dir, "package.json"))) {
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ private: true, type: "module" }, null, 2) + "\n");
    created.push("package.json");
  }
  return created;
}

/** Whether the nearest package.json makes .ts files ES modules for tsx ("type": "module"). */
function esmScope(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, "package.json"))) return readPackageJson(d)?.type === "module";
    if (path.dirname(d) === d) return false;
  }
}

/**
 * Whether node resolves "infer-repl" from this folder: a node_modules/infer-repl here or above, or a folder inside
 * infer-repl's own project (its self-reference). Looked up on disk: require.resolve would answer through whatever
 * loader this process runs under (tsx maps the name to the sources inside the repository).
 */
function resolvesInferRepl(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, "node_modules", "infer-repl", "package.json"))) return true;
    if (readPackageJson(d)?.name === "infer-repl") return true;
    if (path.dirname(d) === d) return false;
  }
}

function readPackageJson(dir: string): { name?: unknown; type?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown; type?: unknown };
  } catch {
    return undefined;
  }
}

/** Whether npx finds the command in a node_modules/.bin of this folder or one above it (as npx looks). */
function hasLocalBin(dir: string, name: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, "node_modules", ".bin", name))) return true;
    if (path.dirname(d) === d) return false;
  }
}
