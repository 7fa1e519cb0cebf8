// What bench/replicas.ts and test/deploy/local.test.ts do to a deployment while conversations run: kill a replica
// (SIGKILL) or drain one (SIGTERM) a third of the way through, and what came of it.
import { runConversations, summarize, type ConversationPlan, type TurnRecord } from "./conversation-load.ts";
import type { Deployment } from "./deployment.ts";

export interface FailoverResult {
  summary: ReturnType<typeof summarize>;
  records: TurnRecord[];
  /** Requests nginx sent to more than one replica (its access log's `upstream=A, B`). */
  retriedByNginx: number;
  /** Failed or hung requests, described. */
  problems: string[];
}

/** Replica `victim` (0-based) is killed once a third of the requests ended; resolves after local.sh restarted it. */
export async function failover(d: Deployment, plan: ConversationPlan, victim: number): Promise<FailoverResult> {
  const total = plan.conversations * plan.turns;
  let back: Promise<void> | undefined;
  const logBefore = d.accessLog().length;
  const { records, wallMs } = await runConversations({
    ...plan,
    onEnded: (n) => {
      if (back || n < total / 3) return;
      const pid = d.pid(victim);
      process.kill(pid, "SIGKILL");
      back = d.restarted(victim, pid);
    },
  });
  await back;
  const retriedByNginx = d.accessLog().slice(logBefore).filter((l) => /upstream=\S+, /.test(l)).length;
  return { summary: summarize(records, wallMs), records, retriedByNginx, problems: problems(records) };
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
 * Once a third of the requests ended, the replica with the most requests running gets SIGTERM (it drains and exits;
 * local.sh starts it again). Resolves once it is back.
 */
export async function drain(d: Deployment, plan: ConversationPlan): Promise<DrainResult> {
  const total = plan.conversations * plan.turns;
  let termAt = -1, exitedAt = -1, victim = -1, looking = false;
  let back: Promise<void> | undefined;
  const pick = async () => {
    looking = true;
    const running = await Promise.all(d.replicas.map(async (r) => {
      const text = await (await fetch(`${r.url}/metrics`)).text();
      return Number(/^infer_repl_requests_running\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? 0);
    }));
    const busiest = running.indexOf(Math.max(...running));
    if (running[busiest]! > 0) {
      victim = busiest;
      const pid = d.pid(victim);
      termAt = performance.now();
      process.kill(pid, "SIGTERM");
      back = (async () => {
        while (d.pid(victim) === pid) await new Promise((r) => setTimeout(r, 10)); // local.sh writes the new pid once the old one exited
        exitedAt = performance.now();
        await d.restarted(victim, pid);
      })();
    }
    looking = false;
  };
  const { records, wallMs } = await runConversations({ ...plan, onEnded: (n) => void (n >= total / 3 && termAt < 0 && !looking && pick()) });
  await back;
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
