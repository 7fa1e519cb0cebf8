// Serving under load: `infer-repl serve` against llama.cpp's llama-server (-np 32 -cb), same model, threads and
// machine, in fresh processes, alternating (A B A B ...); the report is the median of the per-round ratios.
// Loopback only, bounded in count and time. Per round and server: 64 concurrent streaming clients, 1,000
// requests of max_tokens each (end-of-generation banned by logit_bias so every request runs to max_tokens on both
// servers), 30% disconnecting at random moments, 50 malformed bodies among them. Checks: every completed
// response whole, every malformed body 400, the server process never restarted, and (ours) /metrics back at
// its initial free KV block count afterwards. Reports p50/p99 TTFT and inter-token latency, aggregate tokens/s.
//   usage: npx tsx bench/server-load.ts [--rounds 2] [--threads 2] [--requests 1000] [--clients 64]
//          [--max-tokens 128] [--time-limit 300] [--only infer-repl|llama-server] [--llama-args="--poll 0"] [file.gguf]
// --time-limit (seconds) bounds each run: requests still running then are cut and reported apart ("cut"); a request
// cut before its first token counts in TTFT with its wait until the cut. llama-server answers a body that is not
// JSON with 500, not 400: its malformed-body count is reported, only ours is required to be all 400.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { parseArgs } from "node:util";
import { fmt, llamaCppTools, median, model, repoRoot } from "./lib.ts";
import { runLoad, type LoadResult } from "./sse-load-client.ts";
import { Xoshiro128 } from "../core/sampling/prng.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "2" },
    threads: { type: "string", default: "2" },
    requests: { type: "string", default: "1000" },
    clients: { type: "string", default: "64" },
    "max-tokens": { type: "string", default: "128" },
    malformed: { type: "string", default: "50" },
    disconnect: { type: "string", default: "0.3" },
    "time-limit": { type: "string", default: "300" },
    parallel: { type: "string", default: "32" },
    only: { type: "string" },
    // Extra llama-server arguments, e.g. --llama-args="--poll 0" (its threads sleep instead of spinning while they wait).
    "llama-args": { type: "string", default: "" },
  },
});
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const threads = Number(values.threads), parallel = Number(values.parallel), maxTokens = Number(values["max-tokens"]);
const PROMPTS = [
  "Once upon a time", "One day, a little girl named Lily", "Tom and his dog went to the park", "The sun was shining and",
  "Once upon a time, in a big forest, there lived a", "Sam wanted to build a tall tower", "The cat sat on the mat and",
  "Mia found a shiny red ball under the", "There was a small boat on the", "Ben and Anna liked to play in the garden. One day",
];

interface Server { name: string; url: string; child: ChildProcess; exited: () => boolean }

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function start(name: "infer-repl" | "llama-server", tools: string | undefined): Promise<Server> {
  const port = await freePort();
  const args = name === "infer-repl"
    ? [path.join(repoRoot, "bin/infer-repl.mjs"), "serve", "-m", file, "--port", String(port), "-np", String(parallel), "-t", String(threads), "--metrics", "--max-queue", "4096"]
    // Each of llama-server's slots gets ctx/np positions: 256 per slot holds any prompt here plus max_tokens.
    : ["-m", file, "--port", String(port), "-np", String(parallel), "-cb", "-t", String(threads), "-c", String(parallel * 256), "--metrics", "--log-disable", ...values["llama-args"]!.split(" ").filter(Boolean)];
  const child = spawn(name === "infer-repl" ? process.execPath : path.join(tools!, "llama-server"), args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "", gone = false;
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
  child.on("exit", () => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (gone) throw new Error(`${name} exited while starting: ${stderr}`);
    const ok = await fetch(`${url}/health`).then((r) => r.status === 200, () => false);
    if (ok) return { name, url, child, exited: () => gone };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become healthy: ${stderr}`);
}

async function stop(s: Server): Promise<void> {
  if (s.exited()) return;
  const exited = new Promise((r) => s.child.once("exit", r));
  s.child.kill("SIGTERM");
  await exited;
}

const freeBlocks = async (url: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^infer_repl_kv_blocks\{[^}]*state="free"[^}]*\} (\d+)$/m.exec(text);
  const running = /^infer_repl_requests_running\{[^}]*\} (\d+)$/m.exec(text);
  return { free: Number(m?.[1]), running: Number(running?.[1]) };
};

function seeded(seed: number): () => number {
  const rng = new Xoshiro128(seed);
  return () => rng.nextDouble();
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

interface Round { tps: number; ttft50: number; ttft99: number; itl50: number; itl99: number; r: LoadResult; poolOk: boolean | undefined }

async function round(name: "infer-repl" | "llama-server", tools: string | undefined, seed: number): Promise<Round> {
  const server = await start(name, tools);
  try {
    const before = name === "infer-repl" ? await freeBlocks(server.url) : undefined;
    const r = await runLoad({
      url: server.url, requests: Number(values.requests), clients: Number(values.clients), maxTokens,
      disconnectShare: Number(values.disconnect), malformed: Number(values.malformed), timeLimitMs: Number(values["time-limit"]) * 1000,
      prompts: PROMPTS, extra: { temperature: 0.8, logit_bias: { "2": -100 } }, random: seeded(seed),
    });
    if (server.exited()) r.broken.push(`${name} exited during the run`);
    let poolOk: boolean | undefined;
    if (before) {
      let after = await freeBlocks(server.url);
      for (let i = 0; i < 100 && after.running > 0; i++) {
        await new Promise((res) => setTimeout(res, 50));
        after = await freeBlocks(server.url);
      }
      poolOk = after.free === before.free && after.running === 0;
      if (!poolOk) r.broken.push(`pool: ${after.free} free blocks after the run, ${before.free} before (${after.running} running)`);
    }
    return {
      tps: (r.tokens / r.wallMs) * 1000, r, poolOk,
      ttft50: pct(r.ttftMs, 50), ttft99: pct(r.ttftMs, 99), itl50: pct(r.interTokenMs, 50), itl99: pct(r.interTokenMs, 99),
    };
  } finally {
    await stop(server);
  }
}

function report(name: string, x: Round): void {
  const r = x.r;
  console.log(
    `${name.padEnd(12)} ${fmt(x.tps, 0).padStart(6)} tok/s  TTFT p50 ${fmt(x.ttft50, 0)} p99 ${fmt(x.ttft99, 0)} ms  ITL p50 ${fmt(x.itl50, 1)} p99 ${fmt(x.itl99, 1)} ms  ` +
    `completed ${r.completed} disconnected ${r.disconnected} cut ${r.cut} malformed ${r.malformed400}/${r.malformedSent} 400  wall ${fmt(r.wallMs / 1000, 1)} s` +
    (x.poolOk === undefined ? "" : `  pool ${x.poolOk ? "back at initial free count" : "NOT back"}`),
  );
  for (const b of r.broken.slice(0, 5)) console.log(`  broken: ${b}`);
  if (r.broken.length > 5) console.log(`  ... ${r.broken.length - 5} more broken`);
}

const only = values.only;
const tools = only === "infer-repl" ? undefined : llamaCppTools();
if (tools && !existsSync(path.join(tools, "llama-server"))) throw new Error(`no llama-server in ${tools}`);
console.log(`server load: ${path.basename(file)}, ${threads} threads${values["llama-args"] ? ` (llama-server ${values["llama-args"]})` : ""}, -np ${parallel}, ${values.requests} requests x ${maxTokens} tokens, ${values.clients} clients, ${Number(values.disconnect) * 100}% disconnect, ${values.malformed} malformed`);
const ratios: { tps: number; ttft99: number }[] = [];
let failed = false;
for (let i = 0; i < Number(values.rounds); i++) {
  const ours = only === "llama-server" ? undefined : await round("infer-repl", tools, 1000 + i);
  if (ours) report("infer-repl", ours);
  const theirs = only === "infer-repl" ? undefined : await round("llama-server", tools, 1000 + i);
  if (theirs) report("llama-server", theirs);
  failed ||= (ours?.r.broken.length ?? 0) > 0 || (ours !== undefined && ours.r.malformed400 !== ours.r.malformedSent);
  if (ours && theirs) ratios.push({ tps: ours.tps / theirs.tps, ttft99: ours.ttft99 / theirs.ttft99 });
}
if (ratios.length > 0) {
  console.log(`median of ${ratios.length} pairwise ratios (infer-repl / llama-server): aggregate tokens/s ${fmt(median(ratios.map((r) => r.tps)), 2)}x, ` +
    `p99 TTFT ${fmt(median(ratios.map((r) => r.ttft99)), 2)}x (below 1 is better)`);
}
if (failed) process.exitCode = 1;
