import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { setImmediate as nextTurn } from "node:timers/promises";
import { render } from "ink";
import { createElement } from "react";
import { App } from "./App.tsx";
import { configFromFlags } from "./config.ts";
import type { EngineLink } from "./engine-client.ts";
import { decode, encode, type Event } from "./protocol.ts";
import { initialState } from "./state.ts";
import { Store } from "./store.ts";

/** A keyboard nobody types on (a TTY as Ink wants it). */
export class IdleKeyboard extends EventEmitter {
  isTTY = true;
  read = () => null;
  setEncoding(): void {}
  setRawMode(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

/** A terminal of the given size that discards what it is sent, counting the bytes. */
export class NullTerminal extends Writable {
  isTTY = true;
  bytes = 0;
  constructor(readonly columns: number, readonly rows: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.bytes += chunk.length;
    done();
  }
}

/** What the rehearsal streams: plain prose, none of it any model's output or a benchmark's prompt. */
const PROSE = "The notebook keeps each prompt and its answer as a cell, with the settings it ran under and the speed " +
  "it reached. Cells can be run again, compared side by side, saved with the session and opened later, and the " +
  "settings that worked best can be written out as a recipe that serves the same model over HTTP. "

/** Frames of the rehearsal: enough calls for V8 to optimize the per-character and per-frame code (~30 ms of it each). */
const FRAMES = 40;
/** Tokens per frame: a fast model's 100 ms (1,800 tokens/s), ~4 display lines. */
const TOKENS_PER_FRAME = 180;
/** Ink's frame interval here (its maxFps): short, so each frame is drawn at once, as the REPL's 100 ms frames are. */
const FRAME_MS = 2;

/**
 * Runs the notebook's streaming path once, before the user's first cell, on a copy of the UI nobody sees: a cell that
 * streams FRAMES text frames at a fast model's rate and finishes, drawn by Ink into a terminal that discards it.
 *
 * Why: the first cell of a fresh REPL used to cost its UI about twice the CPU of later ones (main thread ~120 ->
 * ~70 ms for 512 tokens, V8's background threads ~125 -> ~55 ms, loaded machine), the difference being V8 compiling
 * Ink's, React's and the REPL's rendering code while the cell streamed; on two cores that time is taken from the
 * engine's forward threads, so the first cell decoded slower than the CLI and than the cells after it. Run while
 * the model loads (the main thread is idle then), the compiling happens before any cell. The messages pass through
 * the protocol's encoding as the engine's do. Resolves with the bytes Ink drew; never throws (a failed rehearsal
 * only leaves the first cell slower).
 */
export async function rehearseStreaming(columns: number, rows: number, signal?: AbortSignal): Promise<number> {
  const terminal = new NullTerminal(columns, rows);
  try {
    const store = new Store(initialState(configFromFlags({})));
    const link: EngineLink = { send: () => {}, subscribe: () => () => {}, close: async () => {} };
    const app = render(createElement(App, { store, link, scrollback: false }), {
      stdout: terminal as unknown as NodeJS.WriteStream, stdin: new IdleKeyboard() as unknown as NodeJS.ReadStream,
      exitOnCtrlC: false, patchConsole: false, maxFps: 1000 / FRAME_MS,
    });
    const engine = (event: Event) => store.dispatch({ type: "engine", event: decode<Event>(encode(event)) });
    try {
      store.dispatch({ type: "start-cell", prompt: "(rehearsal)", genIds: [1] });
      const words = PROSE.split(/(?= )/);
      let count = 0, text = "";
      for (let f = 0; f < FRAMES && !signal?.aborted; f++) {
        await new Promise((r) => setTimeout(r, FRAME_MS));
        let chunk = "";
        for (let t = 0; t < TOKENS_PER_FRAME; t++) chunk += words[(count + t) % words.length];
        count += TOKENS_PER_FRAME;
        text += chunk;
        engine({ type: "tokens", chunks: [{ id: 1, text: chunk, count: TOKENS_PER_FRAME }] });
        await nextTurn();
      }
      engine({ type: "done", id: 1, finishReason: "length", text, stats: { ttftMs: 10, decodeTokensPerS: 1800, prefillTokensPerS: 500, generatedTokens: count } });
      await new Promise((r) => setTimeout(r, FRAME_MS));
    } finally {
      app.unmount();
    }
  } catch {
    // only the first cell's speed depends on it
  }
  return terminal.bytes;
}
