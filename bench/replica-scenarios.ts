// What bench/replicas.ts and test/deploy/local.test.ts do to a deployment while conversations run: kill (SIGKILL) or
// drain (SIGTERM) the replica streaming the most answers a third of the way through, and what came of it.
import { runConversations, summarize, type ConversationPlan, type TurnRecord } from "./conversation-load.ts";
import type { Deployment } from "./deployment.ts";
import { setTimeout as delay } from "node:timers/promises";

/** How long a frozen replica's last written bytes get to reach the clients before it is judged (generous: CI is loaded). */
const FROZEN_MS = 500;

export interface FailoverResult {
  summary: ReturnType<typeof summarize>;
  records: TurnRecord[];
  /** Requests nginx sent to more than one replica (its access log's `upstream=A, B`). */
  retriedByNginx: number;
  /** Failed or hung requests, described. */
  problems: string[];
}

/**
 * Once a third of the requests ended, the replica streaming the most answers is killed (SIGKILL): those streams
 * are cut, requests queued there are caught before their first token; resolves after local.sh started it again.
 * The replica is frozen (SIGSTOP) first, and killed only once the bytes it wrote before have had time to arrive and
 * a stream of it is still unfinished: short answers otherwise often end between the choice and the kill, and then
 * there is no cut stream to see. A replica with nothing left unfinished is thawed and the next one is chosen later.
 */
export async function failover(d: Deployment, plan: ConversationPlan): Promise<FailoverResult & { killed: string }> {
  const logBefore = d.accessLog().length;
  let killed = "none";
  const { records, wallMs, back } = await midway(d, plan, async (victim, pid, streamingOn) => {
    process.kill(pid, "SIGSTOP");
    await delay(FROZEN_MS);
    if (streamingOn() === 0) {
      process.kill(pid, "SIGCONT");
      return false;
    }
    killed = d.replicas[victim]!.id;
    process.kill(pid, "SIGKILL");
    await d.restarted(victim, pid);
    return true;
  });
  await back();
  const retriedByNginx = d.accessLog().slice(logBefore).filter((l) => /upstream=\S+, /.test(l)).length;
  return { summary: summarize(records, wallMs), records, retriedByNginx, problems: problems(records), killed };
}

/**
 * Runs the conversations; once a third of the requests ended and some replica is streaming answers, `act` is called
 * on the one streaming the most (0-based index, current pid, its count of unfinished streams now). `act` resolves to
 * true once it acted and its consequences are over (`back()` awaits that), or to false when it did nothing: then the
 * next ended request tries again.
 */
async function midway(d: Deployment, plan: ConversationPlan, act: (victim: number, pid: number, streamingOn: () => number) => Promise<boolean>) {
  const total = plan.conversations * plan.turns;
  const streaming = new Map<string, number>();
  let acting: Promise<boolean> | undefined;
  const pick = () => {
    const counts = d.replicas.map((r) => streaming.get(r.id) ?? 0);
    const busiest = counts.indexOf(Math.max(...counts));
    if (counts[busiest]! === 0) return;
    acting = act(busiest, d.pid(busiest), () => streaming.get(d.replicas[busiest]!.id) ?? 0);
    void acting.then((did) => void (did || (acting = undefined)));
  };
  const { records, wallMs } = await runConversations({ ...plan, streaming, onEnded: (n) => void (n >= total / 3 && !acting && pick()) });
  return { records, wallMs, back: async () => void (await acting) };
}

export interface DrainResult {
  summary: ReturnType<typeof summarize>;
  records: TurnRecord[];
  /** The drained replica's id, and how long it took from SIGTERM to its exit. */
  drained: string;
  drainMs: number;
  /** Requests running on it at the SIGTERM, and how many of them completed. */
  runningAtTerm: number;
  finishedOfThem: number;
  /** Requests sent from 100 ms after the SIGTERM (the signal's way into the process) until it exited that it answered anyway (must be none). */
  answeredWhileDraining: number;
  problems: string[];
}

/**
 * Once a third of the requests ended, the replica streaming the most answers gets SIGTERM (it drains and exits;
 * local.sh starts it again). Resolves once it is back.
 */
export async function drain(d: Deployment, plan: ConversationPlan): Promise<DrainResult> {
  let termAt = -1, exitedAt = -1, victim = -1;
  const { records, wallMs, back } = await midway(d, plan, async (i, pid) => {
    victim = i;
    termAt = performance.now();
    process.kill(pid, "SIGTERM");
    while (d.pid(i) === pid) await delay(10); // local.sh writes the new pid once the old one exited
    exitedAt = performance.now();
    await d.restarted(i, pid);
    return true;
  });
  await back();
  const id = victim < 0 ? "none" : d.replicas[victim]!.id;
  const runningAtTerm = records.filter((r) => r.replica === id && r.sentAt < termAt && r.endedAt > termAt);
  return {
    summary: summarize(records, wallMs), records, drained: id, drainMs: exitedAt - termAt,
    runningAtTerm: runningAtTerm.length, finishedOfThem: runningAtTerm.filter((r) => r.outcome === "ok").length,
    answeredWhileDraining: records.filter((r) => r.replica === id && r.sentAt > termAt + 100 && r.sentAt < exitedAt).length,
    problems: problems(records),
  };
}

export function problems(records: readonly TurnRecord[]): string[] {
  return records.filter((r) => r.outcome === "failed" || r.outcome === "hang").map((r) => `conversation ${r.conversation} turn ${r.turn}: ${r.outcome} ${r.detail}`);
}
