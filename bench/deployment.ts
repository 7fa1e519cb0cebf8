// deploy/local.sh driven from TypeScript: N `infer-repl serve` replicas behind nginx on loopback ports, for
// bench/replicas.ts and test/deploy/local.test.ts. The replicas' processes are local.sh's (it restarts one that
// exits); their current pids are read from the pid files it prints.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./lib.ts";

export interface Replica {
  /** The x-infer-repl-replica the replica answers with. */
  id: string;
  url: string;
  pidFile: string;
}

export interface Deployment {
  /** nginx's base URL. */
  url: string;
  replicas: Replica[];
  /** nginx's access log lines so far (`upstream=A, B` for a request tried on A then retried on B). */
  accessLog(): string[];
  /** The current process id of replica i (0-based); a new one after local.sh restarted it. */
  pid(i: number): number;
  /** Resolves once replica i (0-based) runs as a process other than `oldPid` and answers /health with 200. */
  restarted(i: number, oldPid: number, timeoutMs?: number): Promise<void>;
  /** SIGTERM to local.sh: the replicas drain, nginx stops, the scratch directory is removed. */
  stop(): Promise<void>;
}

/** Runs `bash deploy/local.sh n model` with extra environment; resolves once it printed its URLs (all healthy). */
export function startDeployment(n: number, model: string, env: Record<string, string> = {}): Promise<Deployment> {
  const child = spawn("bash", [path.join(repoRoot, "deploy/local.sh"), String(n), model], {
    env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-8000)));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    void exited.then((code) => reject(new Error(`deploy/local.sh exited (${code}) before it was ready: ${stderr}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      if (lines.length < n + 1) return;
      const replicas = lines.slice(1).map((l, i) => {
        const [, , url, pidFile] = l.split(" ");
        return { id: `replica-${i + 1}`, url: url!, pidFile: pidFile! };
      });
      const pid = (i: number) => Number(readFileSync(replicas[i]!.pidFile, "utf8").trim());
      resolve({
        url: lines[0]!,
        replicas,
        pid,
        accessLog: () => readFileSync(path.join(path.dirname(replicas[0]!.pidFile), "access.log"), "utf8").split("\n").filter((l) => l !== ""),
        async restarted(i, oldPid, timeoutMs = 120_000) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const back = pid(i) !== oldPid && (await fetch(`${replicas[i]!.url}/health`).then((r) => r.status === 200, () => false));
            if (back) return;
            if (Date.now() > deadline) throw new Error(`replica ${i + 1} did not come back within ${timeoutMs} ms: ${stderr}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        },
        async stop() {
          child.kill("SIGTERM");
          await exited;
        },
      });
    });
  });
}
