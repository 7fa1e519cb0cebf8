import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where this package's own files are. The same code runs from its TypeScript sources (core/x.ts, under tsx: tests,
 * development) and from its build (dist/core/x.js, the published package), so paths are found, not assumed.
 */

const here = fileURLToPath(import.meta.url);

/** The folder holding infer-repl's package.json (the nearest one above this module). */
export const packageRoot: string = (() => {
  for (let dir = path.dirname(here); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`infer-repl: no package.json above ${here}`);
  }
})();

/** The version in package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
}

/** The URL of the public API module (`import ... from "infer-repl"`) as this copy runs it: core/index.ts or dist/core/index.js. */
export const publicApiUrl: string = new URL(`./index${path.extname(here)}`, import.meta.url).href;
