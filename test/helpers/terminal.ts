import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "./paths.ts";

export const hasTmux = spawnSync("tmux", ["-V"]).status === 0;

/**
 * The real CLI in a pseudo-terminal (tmux), as a user drives it: what they type, what the screen shows.
 * `env` is extra environment (e.g. INFER_REPL_MODELS); CI=true as CI services set it.
 */
export class Terminal {
  readonly name = `infer-repl-e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  readonly exitFile: string;

  constructor(readonly dir: string, args: string[] = [], env: Record<string, string> = {}) {
    this.exitFile = path.join(dir, `${this.name}.exit`);
    const vars = Object.entries({ CI: "true", INFER_REPL_CACHE: path.join(dir, "cache"), ...env }).map(([k, v]) => `${k}=${v}`).join(" ");
    const command = `cd ${repoRoot} && env ${vars} node bin/infer-repl.mjs ${args.join(" ")}; echo $? > ${this.exitFile}; sleep 60`;
    execFileSync("tmux", ["new-session", "-d", "-s", this.name, "-x", "150", "-y", "50", command]);
  }

  /** The pane with 300 lines of scrollback: finished cells scroll up there. */
  screen(): string {
    return execFileSync("tmux", ["capture-pane", "-p", "-J", "-S", "-300", "-t", this.name], { encoding: "utf8" });
  }

  /** Only what the terminal shows now (Ink redraws its live area in place; older frames stay in the scrollback). */
  visible(): string {
    return execFileSync("tmux", ["capture-pane", "-p", "-J", "-t", this.name], { encoding: "utf8" });
  }

  /** Types text literally (no key names). */
  type(text: string): void {
    execFileSync("tmux", ["send-keys", "-t", this.name, "-l", text]);
  }

  /** Sends named keys such as Enter or C-c. */
  key(...keys: string[]): void {
    execFileSync("tmux", ["send-keys", "-t", this.name, ...keys]);
  }

  line(text: string): void {
    this.type(text);
    this.key("Enter");
  }

  async waitFor(check: (screen: string) => boolean, what: string, timeoutMs = 60_000, pollMs = 25, view = () => this.screen()): Promise<string> {
    const start = Date.now();
    for (;;) {
      const s = view();
      if (check(s)) return s;
      if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  waitText(text: string, timeoutMs?: number): Promise<string> {
    return this.waitFor((s) => s.includes(text), JSON.stringify(text), timeoutMs);
  }

  async exitCode(): Promise<number> {
    const start = Date.now();
    while (!existsSync(this.exitFile) || readFileSync(this.exitFile, "utf8").trim() === "") {
      if (Date.now() - start > 20_000) assert.fail(`the REPL did not exit; screen:\n${this.screen()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return Number(readFileSync(this.exitFile, "utf8").trim());
  }

  kill(): void {
    spawnSync("tmux", ["kill-session", "-t", this.name]);
  }
}
