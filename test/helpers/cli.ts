import { spawn } from "node:child_process";
import path from "node:path";
import { repoRoot } from "./paths.ts";

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Runs the real `infer-repl` command (bin/infer-repl.mjs) with the given stdin. */
export function runCli(args: string[], stdin: string | Buffer = "", env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runNode([path.join(repoRoot, "bin/infer-repl.mjs"), ...args], stdin, env);
}

/** Runs node with these arguments (in the repository root unless told), feeding stdin and collecting both outputs. */
export function runNode(nodeArgs: string[], stdin: string | Buffer = "", env: NodeJS.ProcessEnv = {}, cwd = repoRoot): Promise<CliResult> {
  return runCommand(process.execPath, nodeArgs, stdin, env, cwd);
}

/** Runs a command in `cwd`, feeding stdin and collecting both outputs. */
export function runCommand(command: string, args: string[], stdin: string | Buffer, env: NodeJS.ProcessEnv, cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    // A command may exit without reading its input (a usage error): the pipe then breaks, which is not the test's
    // failure; its exit code and output are.
    child.stdin.on("error", (e: NodeJS.ErrnoException) => { if (e.code !== "EPIPE") reject(e); });
    child.stdin.end(stdin);
  });
}
