#!/usr/bin/env node
// The infer-repl command: dist/cli/bin.js in the package (package.json "bin"); bin/infer-repl.mjs runs this file from
// the TypeScript sources through tsx (tests, development).
import { main } from "./main.ts";

process.exitCode = await main(process.argv.slice(2));
