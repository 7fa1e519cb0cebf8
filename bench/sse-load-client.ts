// The client side of bench/server-load.ts: streaming OpenAI completions over loopback, timed per token, with
// disconnects at chosen moments and malformed bodies; every completed response is checked to be whole.
import { setMaxListeners } from "node:events";

export interface LoadPlan {
  url: string;
  /** Requests in all, and how many run at once. */
  requests: number;
  clients: number;
  maxTokens: number;
  /** Share of requests that disconnect at a random moment (before the first token or after some tokens). */
  disconnectShare: number;
  /** Malformed bodies sent among the requests; each must get 400. */
  malformed: number;
  /** The run's hard bound: then requests still running are cut (counted apart) and no new one starts. */
  timeLimitMs: number;
  prompts: readonly string[];
  /** Extra body fields (the same for both servers). */
  extra: Record<string, unknown>;
  random: () => number;
}

export interface LoadResult {
  wallMs: number;
  completed: number;
  disconnected: number;
  /** Requests still running (or not yet answered) at the time limit, cut there. */
  cut: number;
  /** Completed responses that were not whole (no finish_reason, no [DONE], wrong token count, or an error). */
  broken: string[];
  malformedSent: number;
  malformed400: number;
  /** Tokens received, by every request (disconnected and cut ones up to then). */
  tokens: number;
  /** Time to first token; a request cut before its first token counts with its time until the cut. */
  ttftMs: number[];
  interTokenMs: number[];
}

const MALFORMED: readonly string[] = [
  "{not json",
  "[]",
  JSON.stringify({ prompt: "x", max_tokens: -5 }),
  JSON.stringify({ prompt: "x", temperature: "hot" }),
  JSON.stringify({ max_tokens: 4 }),
  JSON.stringify({ prompt: 12 }),
  JSON.stringify({ prompt: "x", n: 0 }),
  JSON.stringify({ prompt: "x", top_p: 7 }),
  "",
  JSON.stringify({ prompt: "x", stop: [1, 2, 3] }),
];

export async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const result: LoadResult = { wallMs: 0, completed: 0, disconnected: 0, cut: 0, broken: [], malformedSent: 0, malformed400: 0, tokens: 0, ttftMs: [], interTokenMs: [] };
  // Which request indices are malformed or disconnect, fixed up front so both servers get the same plan.
  const kinds = Array.from({ length: plan.requests }, () => (plan.random() < plan.disconnectShare ? plan.random() : -1));
  const malformedAt = new Set<number>();
  while (malformedAt.size < Math.min(plan.malformed, plan.requests)) malformedAt.add(Math.floor(plan.random() * plan.requests));
  let next = 0;
  const start = performance.now();
  const deadline = new AbortController();
  setMaxListeners(plan.clients * 4, deadline.signal); // every request in flight listens for the deadline
  const timer = setTimeout(() => deadline.abort(), plan.timeLimitMs);
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= plan.requests || deadline.signal.aborted) return;
      if (malformedAt.has(i)) await sendMalformed(plan, i, result, deadline.signal);
      await streamOne(plan, i, kinds[i]!, result, deadline.signal);
    }
  };
  await Promise.all(Array.from({ length: plan.clients }, worker));
  clearTimeout(timer);
  result.wallMs = performance.now() - start;
  return result;
}

async function sendMalformed(plan: LoadPlan, i: number, result: LoadResult, deadline: AbortSignal): Promise<void> {
  const body = MALFORMED[i % MALFORMED.length]!;
  try {
    const r = await fetch(`${plan.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: deadline });
    await r.arrayBuffer();
    result.malformedSent++;
    if (r.status === 400) result.malformed400++;
    else result.broken.push(`malformed body ${JSON.stringify(body)} got ${r.status}`);
  } catch (e) {
    if (!deadline.aborted) result.broken.push(`malformed body ${JSON.stringify(body)}: ${(e as Error).message}`);
  }
}

/** One streaming request; `cutAt` in [0, 1) disconnects after that fraction of max_tokens (0: before any token), -1 never. */
async function streamOne(plan: LoadPlan, i: number, cutAt: number, result: LoadResult, deadline: AbortSignal): Promise<void> {
  const controller = new AbortController();
  const onDeadline = () => controller.abort();
  deadline.addEventListener("abort", onDeadline, { once: true });
  const cutAfter = cutAt < 0 ? Infinity : Math.floor(cutAt * plan.maxTokens);
  const sent = performance.now();
  let tokens = 0, last = 0, finish: string | undefined, done = false, usageTokens: number | undefined, error: string | undefined;
  try {
    if (cutAfter === 0) setTimeout(() => controller.abort(), plan.random() * 50);
    const r = await fetch(`${plan.url}/v1/completions`, {
      method: "POST", headers: { "content-type": "application/json" }, signal: controller.signal,
      body: JSON.stringify({
        prompt: plan.prompts[i % plan.prompts.length], max_tokens: plan.maxTokens, stream: true, stream_options: { include_usage: true },
        seed: i, ...plan.extra,
      }),
    });
    if (r.status !== 200) throw new Error(`status ${r.status}: ${await r.text()}`);
    const decoder = new TextDecoder();
    let buffered = "";
    read: for await (const bytes of r.body!) {
      buffered += decoder.decode(bytes as Uint8Array, { stream: true });
      let end;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
        if (data === "[DONE]") { done = true; continue; }
        if (data === "") continue;
        const chunk = JSON.parse(data) as { choices?: { text?: string; finish_reason?: string | null }[]; usage?: { completion_tokens: number }; error?: unknown };
        if (chunk.error) error = JSON.stringify(chunk.error);
        if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
        const choice = chunk.choices?.[0];
        if (choice?.finish_reason) finish = choice.finish_reason;
        if (choice?.text) {
          const now = performance.now();
          if (tokens === 0) result.ttftMs.push(now - sent);
          else result.interTokenMs.push(now - last);
          last = now;
          tokens++;
          if (tokens >= cutAfter) {
            // Leave the loop at once: awaiting the body after an abort that comes with its last bytes already
            // received never settles in Node 20's fetch (seen: a request cut after 31 of 32 tokens hung the run).
            controller.abort();
            break read;
          }
        }
      }
    }
  } catch (e) {
    if (!controller.signal.aborted) error = (e as Error).message;
  }
  deadline.removeEventListener("abort", onDeadline);
  if (controller.signal.aborted) {
    result.tokens += tokens;
    if (deadline.aborted) {
      result.cut++;
      if (tokens === 0) result.ttftMs.push(performance.now() - sent);
    } else {
      result.disconnected++;
    }
    return;
  }
  result.tokens += usageTokens ?? tokens;
  const whole = !error && done && finish === "length" && (usageTokens ?? tokens) === plan.maxTokens;
  if (whole) result.completed++;
  else result.broken.push(`request ${i}: ${error ?? `finish ${finish}, [DONE] ${done}, ${usageTokens ?? tokens} of ${plan.maxTokens} tokens`}`);
}
