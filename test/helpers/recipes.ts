import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { runNode, type CliResult } from "./cli.ts";
import { modelsDir, repoRoot } from "./paths.ts";

/**
 * The environment recipes run in under test: known names resolve from ../shared/models (as in CI), never from
 * the user's cache, and nothing is downloaded (the endpoint is a closed port).
 */
export function recipeEnv(cacheDir: string): NodeJS.ProcessEnv {
  return { INFER_REPL_MODELS: modelsDir, INFER_REPL_CACHE: cacheDir, INFER_REPL_HF_ENDPOINT: "http://127.0.0.1:9" };
}

/**
 * A scratch folder inside the repository (tmp/ is git-ignored): recipes import "infer-repl", which resolves by
 * the package's self-reference only from files inside it. Removed by the returned cleanup.
 */
export function scratchDir(): { dir: string; cleanup: () => void } {
  mkdirSync(path.join(repoRoot, "tmp"), { recursive: true });
  const dir = mkdtempSync(path.join(repoRoot, "tmp", "recipe-test-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `tsx FILE ARGS...` (the tsx command line, as a user would) with the given stdin. */
export function runTsx(file: string, args: string[], stdin: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runNode([path.join(repoRoot, "node_modules/tsx/dist/cli.mjs"), file, ...args], stdin, env);
}
