// What the notebook REPL's UI costs the main thread while a cell streams, apart from any engine: the REPL's Ink app
// (80x24 unless --size says otherwise) and its EngineHost, fed by a scripted engine that emits tokens at a fixed rate
// (--rate tokens/s, text of a children's story), drawing into a terminal that discards what it gets. The figure is
// main-thread CPU per second of streaming and per token: every millisecond of it is one the engine's threads do not
// get on a machine with as many cores as engine threads. Independent of a model and of the machine's load (CPU time,
// one thread), so small UI changes can be compared: run it A B A B.
//   usage: npx tsx bench/repl-ui-cost.ts [--rate 1200] [-n 2048] [--size 80x24] [--rounds 3] [--rehearse] [--no-ui]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { render } from "ink";
import { createElement } from "react";
import { App } from "../cli/repl/App.tsx";
import { configFromFlags } from "../cli/repl/config.ts";
import type { EngineLink } from "../cli/repl/engine-client.ts";
import { EngineHost } from "../cli/repl/engine-host.ts";
import type { Event, Request } from "../cli/repl/protocol.ts";
import { initialState } from "../cli/repl/state.ts";
import { Store } from "../cli/repl/store.ts";
import { IdleKeyboard, NullTerminal, rehearseStreaming } from "../cli/repl/warm-up.ts";
import { fmt, median } from "./lib.ts";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "1200" },
    n: { type: "string", short: "n", default: "2048" },
    size: { type: "string", default: "80x24" },
    rounds: { type: "string", default: "3" },
    /** Runs the REPL's start-up rehearsal (cli/repl/warm-up.ts) first: with --rounds 1, the first cell's cost with it. */
    rehearse: { type: "boolean", default: false },
    /** The scripted engine and the store only: what the harness itself costs, to read the figures against. */
    "no-ui": { type: "boolean", default: false },
  },
});
const rate = Number(values.rate), n = Number(values.n), rounds = Number(values.rounds);
const [cols, rows] = values.size.split("x").map(Number) as [number, number];

const STORY = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, " +
  "she saw a big, red ball in the park. She ran to it and kicked it as hard as she could. The ball flew over the " +
  "fence and into the garden of an old man. Lily was scared, but she knocked on his door and said sorry.\n").split(/(?=[ \n])/);

/** The engine side of the EngineHost: streams `n` tokens at `rate` per second (in bursts, as steps complete). */
function scriptedEngine() {
  let generated = 0;
  const stats = () => ({
    blocks: { total: 2427, used: Math.ceil(generated / 16), free: 2427 - Math.ceil(generated / 16), cached: 0 }, kvBytesUsed: Math.ceil(generated / 16) * 16 * 6 * 2 * 288 * 2,
    prefixCache: { lookedUpTokens: 0, hitTokens: 0, hitRate: 0, evictions: 0 },
    waiting: 0, running: 1, preemptions: 0, steps: generated, promptTokensComputed: 5, tokensGenerated: generated, tokensPerS: rate,
  });
  return {
    stats,
    stream(_prompt: string, options: { signal?: AbortSignal }) {
      let text = "";
      let resolve!: (r: object) => void;
      const result = new Promise<object>((r) => (resolve = r));
      async function* events() {
        const start = performance.now();
        for (let i = 0; i < n && !options.signal?.aborted; i++) {
          // Token i is due at start + i/rate; wait for it in the event loop, as a real step's completion would.
          const due = start + (i * 1000) / rate;
          if (performance.now() < due) await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
          const piece = STORY[i % STORY.length]!;
          text += piece;
          generated++;
          yield { text: piece, token: i };
        }
        resolve({ finishReason: "length", text, stats: { ttftMs: 10, tokensPerS: rate, promptTokens: 5, tokens: n } });
      }
      return Object.assign(events(), { result });
    },
  };
}

/** The REPL's link with its EngineHost in this thread (the worker's wiring without the worker). */
function inProcessLink(): EngineLink & { host: EngineHost } {
  const listeners = new Set<(e: Event) => void>();
  const host = new EngineHost((e) => queueMicrotask(() => { for (const l of listeners) l(e); }));
  (host as unknown as { engine: unknown }).engine = scriptedEngine();
  return {
    host,
    send: (req: Request) => host.handle(req),
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    close: async () => {},
  };
}

/**
 * CPU ms of this process's main thread (Linux: /proc's schedstat, in ns: the clock ticks of /proc's stat are 10 ms, as
 * long as a few frames; elsewhere the whole process's, helper threads included).
 */
function mainThreadCpuMs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  }
}

async function once(): Promise<{ cpuMsPerS: number; cpuUsPerToken: number; processCpuMsPerS: number; seconds: number; bytes: number }> {
  const store = new Store(initialState(configFromFlags({})));
  const link = inProcessLink();
  const stdout = new NullTerminal(cols, rows);
  const app = values["no-ui"]
    ? { unmount: link.subscribe((event) => store.dispatch({ type: "engine", event })) }
    : render(createElement(App, { store, link, onQuit: () => {} }), {
      stdout: stdout as unknown as NodeJS.WriteStream, stdin: new IdleKeyboard() as unknown as NodeJS.ReadStream, exitOnCtrlC: false, maxFps: 30, patchConsole: false,
    });
  store.dispatch({
    type: "engine",
    event: {
      type: "loaded", batching: { maxSeqs: 32, maxBatchTokens: 512, maxWaitMs: 0, prefixCaching: true },
      stats: scriptedEngine().stats(),
      model: { path: "stories15M-q8_0.gguf", sha256: "", name: "stories15M-q8_0.gguf", nLayer: 6, nVocab: 32000, contextSize: 2048, headDim: 48, threads: 2, chatTemplate: false, thinkingSwitch: false },
    },
  });
  await new Promise((r) => setTimeout(r, 300));
  const done = new Promise<void>((resolve) => {
    const stop = store.subscribe(() => {
      if (store.get().active.length === 0 && store.get().cells.length > 0) (stop(), resolve());
    });
  });
  const c0 = process.cpuUsage(), m0 = mainThreadCpuMs(), t0 = performance.now();
  link.send({ type: "generate", id: 1, prompt: "Once upon a time", options: {} });
  store.dispatch({ type: "start-cell", prompt: "Once upon a time", genIds: [1] });
  await done;
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuMs = mainThreadCpuMs() - m0;
  app.unmount();
  await new Promise((r) => setTimeout(r, 100));
  return { cpuMsPerS: cpuMs / seconds, cpuUsPerToken: (cpuMs * 1000) / n, processCpuMsPerS: (c.user + c.system) / 1000 / seconds, seconds, bytes: stdout.bytes };
}

if (values.rehearse) await rehearseStreaming(cols, rows);
const results = [];
for (let r = 0; r < rounds; r++) {
  const x = await once();
  results.push(x);
  process.stderr.write(`round ${r + 1}: main thread ${fmt(x.cpuMsPerS, 1)} ms CPU per s of streaming (${fmt(x.cpuUsPerToken, 0)} µs per token), ` +
    `all threads ${fmt(x.processCpuMsPerS, 1)} ms/s, ${fmt(x.seconds, 2)} s, ${x.bytes} bytes to the terminal\n`);
}
console.log(`REPL ${values["no-ui"] ? "without its UI (harness only)" : "UI"} at ${cols}x${rows}, ${n} tokens at ${rate} t/s (scripted engine), ${rounds} rounds:`);
console.log(`  main-thread CPU ${fmt(median(results.map((x) => x.cpuMsPerS)), 1)} ms per second of streaming (median), ` +
  `${fmt(median(results.map((x) => x.cpuUsPerToken)), 0)} µs per token; all threads ${fmt(median(results.map((x) => x.processCpuMsPerS)), 1)} ms/s; terminal output ${fmt(median(results.map((x) => x.bytes)) / median(results.map((x) => x.seconds)) / 1024, 1)} KiB/s`);
process.exit(0);
