#!/usr/bin/env node
// The infer-repl command: dist/cli/bin.js in the package (package.json "bin"); bin/infer-repl.mjs runs this file from
// the TypeScript sources through tsx (tests, development).
import type { BuiltAnswers } from "./main.ts";

/**
 * `--help` and `--version` as the build rendered them (scripts/bundle.ts defines both as string literals; in the
 * sources they do not exist). Building the program (commander and every command's options) and formatting its help
 * took ~40 ms of a ~150 ms start; answered from this text, `--help` costs little more than starting node.
 */
declare const BUILT_HELP: string | undefined, BUILT_VERSION: string | undefined;

const args = process.argv.slice(2);
const answer = typeof BUILT_HELP === "string" && typeof BUILT_VERSION === "string"
  ? builtAnswer({ help: BUILT_HELP, version: BUILT_VERSION }, args) : undefined;
if (answer !== undefined) {
  process.stdout.write(answer);
} else {
  const { main } = await import("./main.ts");
  process.exitCode = await main(args);
}

/**
 * The build's text for a lone `--version`, `--help` or `-h`, when commander would print exactly it: it wraps help to
 * the terminal's width on a TTY and to 80 columns (the rendered width) otherwise. Anything else goes to commander.
 */
function builtAnswer(built: BuiltAnswers, argv: string[]): string | undefined {
  if (argv.length !== 1) return undefined;
  if (argv[0] === "--version") return built.version;
  const width = process.stdout.isTTY ? process.stdout.columns : 80;
  return (argv[0] === "--help" || argv[0] === "-h") && width === 80 ? built.help : undefined;
}
