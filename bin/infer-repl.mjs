#!/usr/bin/env node
// The infer-repl command run from the TypeScript sources through tsx's loader: what the tests and benchmarks run,
// so they need no build. The package's command is the built dist/cli/bin.js (`npm run build`).
import { register } from "tsx/esm/api";

register();
await import("../cli/bin.ts");
