// Replicas behind nginx (deploy/local.sh), loopback only, bounded in count and time. Scenarios (--only, comma list):
//   failover  3 replicas, chat conversations of 3 turns from concurrent clients (X-Session-Id affinity); the replica
//             streaming the most answers is killed (SIGKILL) a third of the way through and local.sh starts it again. Every request that had not
//             started streaming must complete (nginx retries it); a stream cut by the kill must end with an error
//             (its connection closes without [DONE]), never hang; nothing else may fail.
//   affinity  the same load with X-Session-Id (consistent hash) and without (least_conn), alternating rounds in
//             fresh deployments: prefix-cache hit of the later turns (Σ min(cached_tokens, previous turn's
//             prompt_tokens) / Σ previous prompt_tokens, from `usage`), aggregate tokens/s, p99 TTFT.
//   drain     3 replicas under the same load; the replica streaming the most gets SIGTERM a third of the way through: no request fails or is cut, and none
//             started after the SIGTERM is answered by it until it has exited (then local.sh starts it again).
//   scaling   completions of a fixed length (EOS banned): 2 replicas, one thread each, pinned to cores 0 and 1
//             (taskset), against 1 replica pinned to core 0; aggregate tokens/s, alternating rounds, median of the
//             per-round ratios. The offered load grows with the replicas (32 clients and --scaling-requests requests
//             a replica), so each replica decodes batches of the same size in both: the capacity a replica adds,
//             not the same load spread thinner (32 clients over 2 replicas halve each one's batch, and a batch of 16
//             decodes fewer tokens/s than one of 32). The 3-vs-1 needs 3 free cores; this machine has 2.
//   usage: npx tsx bench/replicas.ts [--only failover,affinity,drain,scaling] [--conversations 200] [--clients 48]
//          [--max-tokens 24] [--think-ms 8000] [--rounds 2] [--scaling-requests 256] [model.gguf]
// Between turns each client pauses uniformly in [0, --think-ms] (a user reading; see bench/conversation-load.ts):
// the shorter the pause against the request time, the more least_conn keeps a client on one replica by accident.
import { parseArgs } from "node:util";
import { runConversations, summarize, type ConversationPlan } from "./conversation-load.ts";
import { drain, failover, problems } from "./replica-scenarios.ts";
import { startDeployment, type Deployment } from "./deployment.ts";
import { fmt, median, model } from "./lib.ts";
import { runLoad } from "./sse-load-client.ts";
import { Xoshiro128 } from "../core/sampling/prng.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    only: { type: "string", default: "failover,affinity,drain,scaling" },
    conversations: { type: "string", default: "200" },
    clients: { type: "string", default: "48" },
    "max-tokens": { type: "string", default: "24" },
    rounds: { type: "string", default: "2" },
    "scaling-requests": { type: "string", default: "256" },
    "think-ms": { type: "string", default: "8000" },
  },
});
const file = positionals[0] ?? model("stories15M-q8_0.gguf");
const conversations = Number(values.conversations), clients = Number(values.clients), maxTokens = Number(values["max-tokens"]);
const only = new Set(values.only!.split(","));
// EOS banned (stories15M's is 2): every answer runs to max_tokens, so runs compare like for like.
const EXTRA = { temperature: 0.8, logit_bias: { "2": -100 } };
let failed = false;

const plan = (url: string, tag: string, affinity: boolean, onEnded?: (n: number) => void): ConversationPlan => ({
  url, conversations, clients, turns: 3, maxTokens, affinity, tag, stallMs: 60_000, thinkMs: Number(values["think-ms"]), random: seeded(tag), extra: EXTRA, onEnded,
});

/** The same think times for the same run tag. */
function seeded(tag: string): () => number {
  const rng = new Xoshiro128([...tag].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7));
  return () => rng.nextDouble();
}

function line(name: string, s: ReturnType<typeof summarize>): string {
  return `${name.padEnd(10)} ${s.requests} requests: ok ${s.ok} cut ${s.cut} failed ${s.failed} hang ${s.hang}  ` +
    `${fmt(s.tokensPerSecond, 0)} tok/s  TTFT p50 ${fmt(s.ttftP50, 0)} p99 ${fmt(s.ttftP99, 0)} ms  prefix hit of later turns ${fmt(s.prefixHit * 100, 1)}% ` +
    `(on the previous turn's replica: ${fmt(s.sameReplica * 100, 1)}%)`;
}

async function withDeployment<T>(n: number, env: Record<string, string>, run: (d: Deployment) => Promise<T>): Promise<T> {
  const d = await startDeployment(n, file, { INFER_REPL_THREADS: "1", ...env });
  try {
    return await run(d);
  } finally {
    await d.stop();
  }
}

if (only.has("failover")) {
  await withDeployment(3, {}, async (d) => {
    const r = await failover(d, plan(d.url, "failover", true));
    console.log(line("failover", r.summary));
    const cut = r.records.filter((x) => x.outcome === "cut");
    console.log(`  ${r.killed} (streaming the most) killed after a third of the requests and started again; nginx retried ${r.retriedByNginx} request(s) on another replica; ` +
      `cut streams ${cut.length} (ended by a connection error: ${cut.filter((x) => x.cutByError).length}, by a clean end without [DONE]: ` +
      `${cut.filter((x) => !x.cutByError).length}), each sent again by its client`);
    for (const p of r.problems.slice(0, 5)) console.log(`  FAILED: ${p}`);
    failed ||= r.problems.length > 0 || cut.some((x) => !x.cutByError);
  });
}

if (only.has("affinity")) {
  const results: { affinity: ReturnType<typeof summarize>[]; least: ReturnType<typeof summarize>[] } = { affinity: [], least: [] };
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const affinity of [true, false]) {
      const s = await withDeployment(3, {}, async (d) => {
        const { records, wallMs } = await runConversations(plan(d.url, `r${round}${affinity ? "a" : "l"}`, affinity));
        const bad = problems(records);
        for (const b of bad.slice(0, 5)) console.log(`  FAILED: ${b}`);
        failed ||= bad.length > 0;
        return summarize(records, wallMs);
      });
      console.log(line(affinity ? "affinity" : "least_conn", s));
      (affinity ? results.affinity : results.least).push(s);
    }
  }
  const med = (xs: ReturnType<typeof summarize>[], k: "prefixHit" | "tokensPerSecond" | "ttftP99") => median(xs.map((x) => x[k]));
  console.log(`median of ${results.affinity.length} rounds: prefix hit ${fmt(med(results.affinity, "prefixHit") * 100, 1)}% with affinity, ` +
    `${fmt(med(results.least, "prefixHit") * 100, 1)}% least_conn (bar: >= 90% / <= 40%: ${med(results.affinity, "prefixHit") >= 0.9 && med(results.least, "prefixHit") <= 0.4 ? "met" : "NOT met"}); tokens/s ${fmt(med(results.affinity, "tokensPerSecond"), 0)} / ` +
    `${fmt(med(results.least, "tokensPerSecond"), 0)}; p99 TTFT ${fmt(med(results.affinity, "ttftP99"), 0)} / ${fmt(med(results.least, "ttftP99"), 0)} ms`);
}

if (only.has("drain")) {
  await withDeployment(3, {}, async (d) => {
    const r = await drain(d, plan(d.url, "drain", true));
    console.log(line("drain", r.summary));
    console.log(`  ${r.drained} got SIGTERM and drained in ${fmt(r.drainMs, 0)} ms: ${r.finishedOfThem} of the ${r.runningAtTerm} requests running on it finished; ` +
      `requests sent meanwhile that it answered: ${r.answeredWhileDraining}`);
    for (const p of r.problems.slice(0, 5)) console.log(`  FAILED: ${p}`);
    failed ||= r.problems.length > 0 || r.summary.cut > 0 || r.answeredWhileDraining > 0 || r.finishedOfThem < r.runningAtTerm;
  });
}

if (only.has("scaling")) {
  const ratios: number[] = [];
  const once = async (n: number, round: number) => withDeployment(n, { INFER_REPL_PIN: "1" }, async (d) => {
    const rng = new Xoshiro128(round);
    const r = await runLoad({
      url: d.url, requests: n * Number(values["scaling-requests"]), clients: n * 32, maxTokens: 64, disconnectShare: 0, malformed: 0,
      timeLimitMs: 600_000, prompts: ["Once upon a time", "The dog ran to the", "Lily and Tom went"], extra: EXTRA, random: () => rng.nextDouble(),
    });
    for (const b of r.broken.slice(0, 5)) console.log(`  FAILED: ${b}`);
    failed ||= r.broken.length > 0;
    return (r.tokens / r.wallMs) * 1000;
  });
  for (let round = 0; round < Number(values.rounds); round++) {
    const one = await once(1, round);
    const two = await once(2, round);
    ratios.push(two / one);
    console.log(`scaling round ${round + 1}: 1 replica on core 0 ${fmt(one, 0)} tok/s, 2 replicas on cores 0-1 ${fmt(two, 0)} tok/s: ${fmt(two / one, 2)}x`);
  }
  console.log(`scaling: median of ${ratios.length} per-round ratios 2 vs 1 replicas: ${fmt(median(ratios), 2)}x (bar on a quiet machine: >= 1.7x)`);
}
if (failed) process.exitCode = 1;
