// Where a REPL cell's CPU goes, thread by thread: one fresh REPL in tmux (as bench/repl-speed.ts runs it) generates
// one cell, and each of its threads' CPU time over that cell (from /proc/PID/task/*/stat) is printed with the
// thread's nice value, plus the tmux server's. Threads are unnamed ("node"), listed by id (creation order): the UI is
// the main thread, then V8's platform threads (GC, compiles), libuv's four (each runs forwards in turn), the engine
// worker's event loop, the engine pool's worker. Linux only.
//   usage: npx tsx bench/repl-threads.ts [--threads 2] [-n 512] [--prompt TEXT] [file.gguf]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { model, repoRoot } from "./lib.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: "string", default: "2" },
    n: { type: "string", short: "n", default: "512" },
    prompt: { type: "string", default: "Once upon a time" },
  },
});
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const bin = path.join(repoRoot, "bin/infer-repl.mjs");
const name = `repl-threads-${process.pid}`;
const cache = mkdtempSync(path.join(tmpdir(), "repl-threads-"));

/** CPU ticks (utime + stime) and nice value of a /proc stat file; fields counted after the ")" of the name. */
function stat(file: string): { ticks: number; nice: number } {
  const f = readFileSync(file, "utf8").split(") ")[1]!.split(" ");
  return { ticks: Number(f[11]) + Number(f[12]), nice: Number(f[16]) };
}
function snapshot(pid: number, server: number): Map<string, { ticks: number; nice: number }> {
  const m = new Map<string, { ticks: number; nice: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try { m.set(tid, stat(`/proc/${pid}/task/${tid}/stat`)); } catch { /* the thread ended */ }
  }
  m.set("tmux server", stat(`/proc/${server}/stat`));
  return m;
}

const tmux = (...args: string[]) => execFileSync("tmux", args, { encoding: "utf8" });
const command = `cd ${repoRoot} && INFER_REPL_CACHE=${cache} ${process.execPath} ${bin} -m ${file} -t ${values.threads} --temp 0 -n ${values.n}; sleep 30`;
tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", command);
try {
  const screen = () => tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", name);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (const start = Date.now(); !/loaded /.test(screen()); await sleep(100)) {
    if (Date.now() - start > 120_000) throw new Error(`the model did not load:\n${screen()}`);
  }
  const pid = Number(execFileSync("pgrep", ["-P", tmux("display-message", "-p", "-t", name, "#{pane_pid}").trim(), "node"], { encoding: "utf8" }).trim());
  const server = Number(tmux("display-message", "-p", "#{pid}").trim());
  const before = snapshot(pid, server);
  const t0 = Date.now();
  tmux("send-keys", "-t", name, "-l", values.prompt);
  tmux("send-keys", "-t", name, "Enter");
  let m: RegExpExecArray | null;
  while (!(m = /([\d.]+) tokens\/s[^\n]*· (\d+) tokens/.exec(screen()))) await sleep(250);
  const after = snapshot(pid, server);
  console.log(`${file}: ${m[2]} tokens at ${m[1]} tokens/s, ${Date.now() - t0} ms from Enter to the stats line (load average ${loadavg()[0]!.toFixed(1)})`);
  console.log("thread        nice  CPU ms over the cell");
  for (const [tid, a] of after) {
    const ms = (a.ticks - (before.get(tid)?.ticks ?? 0)) * 10;
    if (ms > 0) console.log(`${(tid === String(pid) ? "UI (main)" : tid).padEnd(13)} ${String(a.nice).padStart(4)}  ${ms}`);
  }
} finally {
  spawnSync("tmux", ["kill-session", "-t", name]);
  rmSync(cache, { recursive: true, force: true });
}
