import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * Where this package's own files are. The same code runs from its TypeScript sources (core/x.ts, under tsx: tests,
 * development) and from its build (dist/, the published package: bundled entries and shared chunks), so paths are
 * found, not assumed.
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

/** Whether this copy runs from its TypeScript sources (under tsx) rather than from its build. */
export const fromSources: boolean = /\.tsx?$/.test(here);

/**
 * The URL of one of the package's entry modules, named by its source path ("core/index.ts"): that file from the
 * sources; from the build, its bundle in dist/ ("dist/core/index.js", scripts/bundle.ts). Built code lives in shared
 * chunks, so a module cannot find an entry beside itself.
 */
export function entryUrl(source: string): string {
  return pathToFileURL(path.join(packageRoot, ...(fromSources ? [source] : ["dist", source.replace(/\.tsx?$/, ".js")]))).href;
}

/** The URL of the public API module (`import ... from "infer-repl"`) as this copy runs it. */
export const publicApiUrl: string = entryUrl("core/index.ts");
