// Decode speed in the notebook REPL against the CLI's `generate`, same model, threads and settings: the REPL's UI
// (Ink, on the main thread) must not take the cores the engine worker decodes on. Each round runs both in fresh
// processes, alternating (CLI, REPL, CLI, REPL, ...); the report is the median of the per-round ratios REPL / CLI.
// The REPL runs in a real pseudo-terminal (tmux, 80x24 unless --size says otherwise) and its figure is the one its
// cell prints (the engine's decode tokens/s of that generation), the CLI's is `generate --json`'s. While the cell
// streams, the screen is read once a second only: a read (node spawning a tmux client, which renders the pane's
// scrollback) costs ~19 ms of CPU, so reading 10 times a second took ~0.2 of a core from the engine's two, more than
// the REPL's own UI takes (`bench/repl-ui-cost.ts`).
//   usage: npx tsx bench/repl-speed.ts [--rounds 5] [--threads 2] [-n 512] [--size 80x24] [--prompt TEXT] [file.gguf]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fmt, median, medianRatio, model, repoRoot, run } from "./lib.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    n: { type: "string", short: "n", default: "512" },
    size: { type: "string", default: "80x24" },
    prompt: { type: "string", default: "Once upon a time" },
  },
});
const rounds = Number(values.rounds), threads = values.threads, n = values.n, prompt = values.prompt;
const [cols, rows] = values.size.split("x");
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const bin = path.join(repoRoot, "bin/infer-repl.mjs");
const flags = ["-m", file, "-t", threads, "--temp", "0", "-n", n];

function cliDecode(): number {
  const out = JSON.parse(run(process.execPath, [bin, "generate", ...flags, "-p", prompt, "--json"])) as { tokens: number[]; stats: { decode_tokens_per_s: number } };
  if (out.tokens.length !== Number(n)) throw new Error(`the CLI generated ${out.tokens.length} tokens, not ${n}: pick a prompt that does not end early`);
  return out.stats.decode_tokens_per_s;
}

/** CPU ms the process `pid` has used (all its threads), from /proc. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, clock ticks of 10 ms
}

/**
 * Waits until the REPL process is idle (under 5% of a core over 500 ms, at most 20 s), as a user's REPL is when they
 * type: the CLI's start-up work is inside its own run, before its first token; the REPL's (its model load, the
 * rehearsal of warm-up.ts) must not overlap the cell it measures.
 */
async function untilQuiet(pid: number): Promise<void> {
  const start = Date.now();
  for (let last = processCpuMs(pid); Date.now() - start < 20_000;) {
    await new Promise((r) => setTimeout(r, 500));
    const now = processCpuMs(pid);
    if (now - last <= 25) return;
    last = now;
  }
}

/** One fresh REPL in tmux: waits for the model and a quiet process, types the prompt, reads the finished cell's tokens/s. */
async function replDecode(): Promise<number> {
  const name = `repl-speed-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const cache = mkdtempSync(path.join(tmpdir(), "repl-speed-"));
  const command = `cd ${repoRoot} && INFER_REPL_CACHE=${cache} ${process.execPath} ${bin} ${flags.join(" ")}; sleep 30`;
  execFileSync("tmux", ["new-session", "-d", "-s", name, "-x", cols!, "-y", rows!, command]);
  const screen = () => execFileSync("tmux", ["capture-pane", "-p", "-J", "-S", "-500", "-t", name], { encoding: "utf8" });
  const waitFor = async (re: RegExp, what: string, everyMs: number): Promise<RegExpExecArray> => {
    const start = Date.now();
    for (;;) {
      const m = re.exec(screen());
      if (m) return m;
      if (Date.now() - start > 120_000) throw new Error(`timed out waiting for ${what}:\n${screen()}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  try {
    await waitFor(/loaded /, "the model to load", 100);
    await untilQuiet(Number(execFileSync("pgrep", ["-P", execFileSync("tmux", ["display", "-p", "-t", name, "#{pane_pid}"], { encoding: "utf8" }).trim(), "node"], { encoding: "utf8" }).trim()));
    execFileSync("tmux", ["send-keys", "-t", name, "-l", prompt]);
    execFileSync("tmux", ["send-keys", "-t", name, "Enter"]);
    const m = await waitFor(new RegExp(`([\\d.]+) tokens/s[^\\n]*· ${n} tokens · length`), "the finished cell", 1000);
    return Number(m[1]);
  } finally {
    spawnSync("tmux", ["kill-session", "-t", name]);
    rmSync(cache, { recursive: true, force: true });
  }
}

const cli: number[] = [], repl: number[] = [];
for (let r = 0; r < rounds; r++) {
  cli.push(cliDecode());
  repl.push(await replDecode());
  console.log(`round ${r + 1}: CLI ${fmt(cli[r]!)} t/s, REPL ${fmt(repl[r]!)} t/s, ratio ${fmt(repl[r]! / cli[r]!, 2)} (load average ${fmt(loadavg()[0]!, 1)})`);
}
console.log(`\n${file}  (threads ${threads}, greedy, ${n} tokens, REPL at ${cols}x${rows}, ${rounds} alternating rounds)`);
console.log(`  CLI generate  ${fmt(median(cli))} t/s (median)`);
console.log(`  REPL          ${fmt(median(repl))} t/s (median)`);
console.log(`  REPL / CLI    ${fmt(medianRatio(repl, cli), 2)}x (median of the per-round ratios)`);
