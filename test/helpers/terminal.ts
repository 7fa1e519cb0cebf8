import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "./paths.ts";

export const hasTmux = spawnSync("tmux", ["-V"]).status === 0;

export interface TerminalOptions {
  /** Extra environment (e.g. INFER_REPL_MODELS). */
  env?: Record<string, string>;
  /** The terminal's columns and rows. */
  size?: [columns: number, rows: number];
}

/**
 * The real CLI in a pseudo-terminal (tmux), as a user drives it: what they type, what the screen shows.
 * CI=true as CI services set it: Ink alone would then draw no live area; the REPL must still work.
 */
export class Terminal {
  readonly name = `infer-repl-e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  readonly exitFile: string;

  constructor(readonly dir: string, args: string[] = [], { env = {}, size = [150, 50] }: TerminalOptions = {}) {
    this.exitFile = path.join(dir, `${this.name}.exit`);
    const vars = Object.entries({ CI: "true", INFER_REPL_CACHE: path.join(dir, "cache"), ...env }).map(([k, v]) => `${k}=${v}`).join(" ");
    const command = `cd ${repoRoot} && env ${vars} node bin/infer-repl.mjs ${args.join(" ")}; echo $? > ${this.exitFile}; sleep 60`;
    execFileSync("tmux", ["new-session", "-d", "-s", this.name, "-x", String(size[0]), "-y", String(size[1]), command]);
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

  /** Sends a command line and waits for the REPL's confirmation of it (see waitText). */
  command(text: string, confirmation: string, timeoutMs?: number): Promise<string> {
    this.line(text);
    return this.waitText(confirmation, timeoutMs);
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

  /**
   * Milliseconds from sending each of `n` keys until the screen shows it on the input line (which must be empty).
   * Includes tmux's own round trips (~10-20 ms per call on a busy machine), so it overstates the UI's share.
   */
  async keypressLatencies(n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 1; i <= n; i++) {
      const start = performance.now();
      this.type("q");
      await this.waitFor((s) => s.includes("› " + "q".repeat(i)), `keypress ${i}`, 5_000, 0, () => this.visible());
      out.push(performance.now() - start);
      await new Promise((r) => setTimeout(r, 30));
    }
    this.key("C-u");
    return out;
  }

  /**
   * Waits until the screen shows `text`, read with runs of white space as one space: a message may wrap across
   * lines at a width that depends on how long a path in it is (CI's checkout path is longer than ours).
   */
  waitText(text: string, timeoutMs?: number): Promise<string> {
    const wanted = text.replace(/\s+/g, " ");
    return this.waitFor((s) => s.replace(/\s+/g, " ").includes(wanted), JSON.stringify(text), timeoutMs);
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
