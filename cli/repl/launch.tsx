import { render } from "ink";
import { App } from "./App.tsx";
import { configFromFlags } from "./config.ts";
import { WorkerEngineLink } from "./engine-client.ts";
import { loadModel } from "./run-command.ts";
import { initialState } from "./state.ts";
import { Store } from "./store.ts";
import { lowerUiThreadPriority } from "./ui-priority.ts";
import { rehearseStreaming } from "./warm-up.ts";

/**
 * Starts the notebook REPL on the terminal: the engine in a worker thread, the Ink UI here. Loads MODEL (or the
 * default model) right away. Resolves when the user quits.
 */
export async function launchRepl(model: string | undefined, flags: Record<string, unknown>): Promise<void> {
  const store = new Store(initialState(configFromFlags(flags)));
  const link = new WorkerEngineLink();
  await lowerUiThreadPriority();
  // Ctrl+C is an ordinary key here (it stops a generation); Ctrl+D and :quit leave.
  const app = render(<App store={store} link={link} />, { exitOnCtrlC: false, maxFps: 30 });
  loadModel({ store, link }, model ?? "");
  // While the model loads: the first cell's rendering code compiled before it streams (see warm-up.ts).
  const rehearsal = new AbortController();
  void rehearseStreaming(process.stdout.columns || 80, process.stdout.rows || 24, rehearsal.signal);
  try {
    await app.waitUntilExit();
  } finally {
    rehearsal.abort();
    await link.close();
  }
}
