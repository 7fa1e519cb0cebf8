import "./as-a-terminal.ts"; // before Ink: see there
import { test } from "node:test";
import assert from "node:assert/strict";
import { render } from "ink";
import { createElement as h } from "react";
import { App } from "../../../cli/repl/App.tsx";
import { initialState } from "../../../cli/repl/state.ts";
import { Store } from "../../../cli/repl/store.ts";
import { IdleKeyboard, NullTerminal, rehearseStreaming } from "../../../cli/repl/warm-up.ts";
import { FakeLink } from "./fake-link.ts";

/** A terminal that keeps what it is sent. */
class Recorder extends NullTerminal {
  text = "";
  override _write(chunk: Buffer, enc: string, done: () => void): void {
    this.text += chunk.toString();
    super._write(chunk, enc, done);
  }
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the rehearsal draws a streaming cell into its own terminal, and the REPL's cells still reach the scrollback whole", async () => {
  // The REPL as launchRepl starts it (Ink throttled, not its debug mode), then the rehearsal beside it.
  const terminal = new Recorder(80, 24);
  const store = new Store(initialState({}));
  const link = new FakeLink();
  const app = render(h(App, { store, link }), {
    stdout: terminal as unknown as NodeJS.WriteStream, stdin: new IdleKeyboard() as unknown as NodeJS.ReadStream,
    exitOnCtrlC: false, patchConsole: false, maxFps: 30,
  });
  try {
    const drawn = await rehearseStreaming(80, 24);
    assert.ok(drawn > 10_000, `the rehearsal drew ${drawn} bytes`);
    assert.doesNotMatch(terminal.text, /little girl named Lily/, "the rehearsal's text stays out of the REPL's terminal");

    // A fast cell: its lines come faster than Ink's frames, so they reach the scrollback only if Ink prints its
    // <Static> items at once, which its module-wide bookkeeping does for one app only (the rehearsal has none).
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i} of the answer`);
    store.dispatch({ type: "start-cell", prompt: "Tell me", genIds: [1] });
    for (const line of lines) {
      link.emit({ type: "tokens", chunks: [{ id: 1, text: `${line}\n`, count: 5 }] });
      await new Promise((r) => setImmediate(r)); // each its own render, several within one of Ink's frames
    }
    link.emit({ type: "done", id: 1, finishReason: "length", text: lines.join("\n"), stats: { decodeTokensPerS: 1800 } });
    await wait(100);
    assert.match(terminal.text, /Tell me/);
    for (const line of lines) assert.ok(terminal.text.includes(line), `"${line}" was printed`);
    assert.match(terminal.text, /1800\.0 tokens\/s/);
  } finally {
    app.unmount();
  }
});

test("an aborted rehearsal stops early", async () => {
  const controller = new AbortController();
  controller.abort();
  const start = performance.now();
  await rehearseStreaming(80, 24, controller.signal);
  assert.ok(performance.now() - start < 500);
});
