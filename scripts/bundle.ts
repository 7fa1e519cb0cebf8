// The package's JavaScript (`npm run build` runs tsc for the type declarations, then this): the TypeScript sources
// bundled by esbuild into dist/, one file per entry module plus shared chunks. Node's ES module loader costs about a
// millisecond per file it resolves, reads and links, and the command loaded ~25 of ours and commander's 7 for
// `--help`; bundled, it loads a handful. Code splitting keeps the dynamic imports lazy: each command's code, the
// engine, and the REPL (Ink, React) load only when they run.
//   usage: npx tsx scripts/bundle.ts
import { build, type Plugin } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { builtAnswers } from "../cli/main.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");

/**
 * The modules found by path at run time (core/package.ts `entryUrl`): the command, the public API (package.json
 * "exports", and what recipes import), the REPL's engine worker. Each keeps its source path in dist/ (.js).
 */
const ENTRIES = ["cli/bin.ts", "core/index.ts", "cli/repl/engine-worker.ts"];

/**
 * Dependencies bundled in rather than imported from node_modules: commander is on every command's path, and as a
 * CommonJS package seven files reached through an ES module wrapper. Every other dependency stays external: Ink,
 * React and zod are shared with the user's own code (a recipe's zod schema must meet the same zod), node-gyp-build
 * finds the addon from its own location, and the rest load only with the commands that use them.
 */
const BUNDLED = new Set(["commander"]);

const externals: Plugin = {
  name: "externals",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const name = args.path.split("/").slice(0, args.path.startsWith("@") ? 2 : 1).join("/");
      return BUNDLED.has(name) ? undefined : { external: true };
    });
  },
};

/** Removes the JavaScript of an earlier build (tsc now writes only declarations to dist/). */
function removeOldJs(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) removeOldJs(file);
    else if (/\.js(\.map)?$/.test(entry.name)) rmSync(file);
  }
}

rmSync(path.join(dist, "chunks"), { recursive: true, force: true });
removeOldJs(dist);
const answers = builtAnswers();
await build({
  absWorkingDir: root,
  entryPoints: ENTRIES,
  outbase: ".",
  outdir: "dist",
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  plugins: [externals],
  // A bundled CommonJS module (commander) calls require() for Node's built-ins; an ES module has no require of its own.
  banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
  logLevel: "warning",
  // cli/bin.ts answers `--help` and `--version` from this text, rendered now by the program itself.
  define: { BUILT_HELP: JSON.stringify(answers.help), BUILT_VERSION: JSON.stringify(answers.version) },
});
