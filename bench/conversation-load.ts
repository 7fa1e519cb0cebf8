// The client side of bench/replicas.ts: concurrent clients holding multi-turn chat conversations through a load
// balancer, streamed, timed per request. Each turn resends the whole conversation (as OpenAI clients do); with
// `affinity`, every request of a conversation carries its id as X-Session-Id (deploy/'s nginx hashes on it).
// A stream that stops without [DONE] counts as cut (and the turn is sent again), one that sends nothing for
// `stallMs` as a hang; a request refused or failing before it streams counts as failed (its conversation ends).
// Between turns a client "thinks" for a random while: without it, a closed loop of clients sticks to replicas under
// least_conn (the replica a client's request just left is the least loaded one when its next request comes), which
// is affinity by accident, not what users reading an answer do.
import { setMaxListeners } from "node:events";

export interface ConversationPlan {
  url: string;
  conversations: number;
  clients: number;
  turns: number;
  maxTokens: number;
  affinity: boolean;
  /** Makes this run's prompts its own (no prefix of another run's conversations). */
  tag: string;
  /** A request with no byte for this long is aborted and counted as a hang. */
  stallMs: number;
  /** Pause before each later turn: uniform in [0, thinkMs]. */
  thinkMs: number;
  /** Seeds the think times. */
  random: () => number;
  /** Extra body fields. */
  extra?: Record<string, unknown>;
  /** Called when a request ended (any outcome) with the number ended so far. */
  onEnded?: (ended: number) => void;
  /** Kept up to date when given: per replica id, the streams that have received content and not yet ended. */
  streaming?: Map<string, number>;
}

export type Outcome = "ok" | "cut" | "failed" | "hang";

export interface TurnRecord {
  conversation: number;
  turn: number;
  outcome: Outcome;
  /** What went wrong (status and body, or the error). */
  detail?: string;
  /** Cut: the body ended by a connection error (rather than a clean end without [DONE]). */
  cutByError?: boolean;
  sentAt: number;
  ttftMs?: number;
  endedAt: number;
  replica?: string;
  promptTokens?: number;
  cachedTokens?: number;
  completionTokens: number;
  /** Prompt tokens of the conversation's previous turn: a prefix of this turn's prompt. */
  sharedPrefix?: number;
}

const NAMES = ["Lily", "Tom", "Mia", "Ben", "Sue", "Max", "Anna", "Sam", "Zoe", "Tim", "Lucy", "Jack"];
const THINGS = ["a red ball", "a big tree", "a little boat", "a shiny key", "a lost kite", "a happy frog", "a blue cup", "a soft bear"];
const PLACES = ["the park", "the forest", "the sea", "the garden", "a small town", "the hill", "the farm", "the river"];
const FOLLOW_UPS = ["What happened next?", "And how did the day end?", "What did they learn?", "Then what?"];

/** The first message of conversation c: it starts differently from every other conversation's. */
function opening(tag: string, c: number): string {
  return `${c} ${tag}. Tell me a story about ${NAMES[c % NAMES.length]} and ${THINGS[(c >> 2) % THINGS.length]} in ${PLACES[(c >> 4) % PLACES.length]}, ` +
    `with a friend who liked to sing and play all day long. They had a dog that ran fast and a cat that slept in the sun.`;
}

export async function runConversations(plan: ConversationPlan): Promise<{ records: TurnRecord[]; wallMs: number }> {
  const records: TurnRecord[] = [];
  let next = 0;
  const start = performance.now();
  const client = async () => {
    for (let c = next++; c < plan.conversations; c = next++) await conversation(plan, c, records);
  };
  await Promise.all(Array.from({ length: plan.clients }, client));
  return { records, wallMs: performance.now() - start };
}

async function conversation(plan: ConversationPlan, c: number, records: TurnRecord[]): Promise<void> {
  const messages: { role: string; content: string }[] = [{ role: "user", content: opening(plan.tag, c) }];
  let previousPrompt: number | undefined;
  for (let turn = 1; turn <= plan.turns; turn++) {
    let r: { record: TurnRecord; text: string };
    for (let attempt = 0; ; attempt++) {
      r = await request(plan, c, turn, messages);
      r.record.sharedPrefix = previousPrompt;
      records.push(r.record);
      plan.onEnded?.(records.length);
      if (r.record.outcome !== "cut" || attempt === 2) break;
    }
    if (r.record.outcome !== "ok") return;
    await new Promise((resolve) => setTimeout(resolve, plan.random() * plan.thinkMs));
    previousPrompt = r.record.promptTokens;
    messages.push({ role: "assistant", content: r.text }, { role: "user", content: FOLLOW_UPS[(c + turn) % FOLLOW_UPS.length]! });
  }
}

async function request(plan: ConversationPlan, c: number, turn: number, messages: readonly object[]): Promise<{ record: TurnRecord; text: string }> {
  const sentAt = performance.now();
  const record: TurnRecord = { conversation: c, turn, outcome: "ok", sentAt, endedAt: 0, completionTokens: 0 };
  const controller = new AbortController();
  setMaxListeners(16, controller.signal);
  let stalled = false;
  let timer = setTimeout(() => ((stalled = true), controller.abort()), plan.stallMs);
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ((stalled = true), controller.abort()), plan.stallMs);
  };
  let text = "", done = false, streaming = false, chunks = 0;
  try {
    const r = await fetch(`${plan.url}/v1/chat/completions`, {
      method: "POST", signal: controller.signal,
      headers: { "content-type": "application/json", ...(plan.affinity ? { "x-session-id": `${plan.tag}-${c}` } : {}) },
      body: JSON.stringify({ messages, max_tokens: plan.maxTokens, stream: true, stream_options: { include_usage: true }, seed: c * 16 + turn, ...plan.extra }),
    });
    alive();
    record.replica = r.headers.get("x-infer-repl-replica") ?? undefined;
    if (r.status !== 200) throw Object.assign(new Error(`status ${r.status}: ${(await r.text()).slice(0, 200)}`), { beforeStream: true });
    streaming = true;
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const bytes of r.body!) {
      alive();
      buffered += decoder.decode(bytes as Uint8Array, { stream: true });
      let end;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const data = buffered.slice(0, end).replace(/^data: /, "");
        buffered = buffered.slice(end + 2);
        if (data === "[DONE]") { done = true; continue; }
        const chunk = JSON.parse(data) as {
          choices: { delta: { content?: string } }[];
          usage?: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens?: number } };
          error?: { message: string };
        };
        if (chunk.error) throw new Error(`error event: ${chunk.error.message}`);
        if (chunk.usage) {
          record.promptTokens = chunk.usage.prompt_tokens;
          record.cachedTokens = chunk.usage.prompt_tokens_details?.cached_tokens;
          record.completionTokens = chunk.usage.completion_tokens;
        }
        const content = chunk.choices[0]?.delta.content;
        if (content) {
          if (chunks++ === 0) {
            record.ttftMs = performance.now() - sentAt;
            if (record.replica) plan.streaming?.set(record.replica, (plan.streaming.get(record.replica) ?? 0) + 1);
          }
          text += content;
        }
      }
    }
    if (!done) {
      record.outcome = "cut";
      record.detail = "the stream ended without [DONE]";
      record.cutByError = false;
    }
  } catch (e) {
    record.outcome = stalled ? "hang" : streaming ? "cut" : "failed";
    record.detail = (e as Error).message;
    if (record.outcome === "cut") record.cutByError = true;
  }
  clearTimeout(timer);
  if (chunks > 0 && record.replica) plan.streaming?.set(record.replica, plan.streaming.get(record.replica)! - 1);
  record.endedAt = performance.now();
  return { record, text };
}

/** Σ min(cached, shared) / Σ shared over the turns that have a previous one: how much of what the replicas had seen they reused. */
export function prefixHitFraction(records: readonly TurnRecord[]): number {
  let shared = 0, hit = 0;
  for (const r of records) {
    if (r.outcome !== "ok" || r.sharedPrefix === undefined) continue;
    shared += r.sharedPrefix;
    hit += Math.min(r.cachedTokens ?? 0, r.sharedPrefix);
  }
  return shared === 0 ? NaN : hit / shared;
}

/** Share of the later turns answered by the replica that answered the conversation's previous turn. */
export function sameReplicaFraction(records: readonly TurnRecord[]): number {
  const last = new Map<number, string | undefined>();
  let later = 0, same = 0;
  for (const r of [...records].sort((a, b) => a.sentAt - b.sentAt)) {
    if (r.outcome !== "ok") continue;
    if (last.has(r.conversation)) {
      later++;
      if (last.get(r.conversation) === r.replica) same++;
    }
    last.set(r.conversation, r.replica);
  }
  return later === 0 ? NaN : same / later;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
}

/** Counts, tokens/s and TTFT percentiles of a run. */
export function summarize(records: readonly TurnRecord[], wallMs: number) {
  const count = (o: Outcome) => records.filter((r) => r.outcome === o).length;
  const ok = records.filter((r) => r.outcome === "ok");
  const tokens = records.reduce((s, r) => s + r.completionTokens, 0);
  const ttft = ok.map((r) => r.ttftMs).filter((x): x is number => x !== undefined);
  return {
    requests: records.length, ok: ok.length, cut: count("cut"), failed: count("failed"), hang: count("hang"),
    tokensPerSecond: (tokens / wallMs) * 1000, ttftP50: percentile(ttft, 50), ttftP99: percentile(ttft, 99),
    prefixHit: prefixHitFraction(records), sameReplica: sameReplicaFraction(records),
  };
}
