import { stat } from "node:fs/promises";
import { getPriority, setPriority } from "node:os";

/**
 * Gives the engine the cores first: lowers the calling (UI) thread's scheduling priority by 10 nice steps. On Linux
 * a nice value belongs to one thread, so the engine's threads keep theirs, and the UI runs in the time they leave
 * (between engine steps the pool's threads sleep). Measured on two cores, the UI's frames otherwise preempt one of
 * the two forward threads and its partner waits at the next barrier. Elsewhere the call would lower the whole
 * process, which changes nothing between its threads, so it is skipped.
 *
 * Threads inherit the nice value of the thread that creates them: call this after the engine worker exists, and it
 * first makes sure libuv's thread pool (where each forward runs) has been started, so it was started at full priority.
 */
export async function lowerUiThreadPriority(): Promise<void> {
  if (process.platform !== "linux") return;
  await stat(import.meta.dirname); // a thread-pool request: the pool starts, if it had not, before the change
  try {
    setPriority(0, Math.min(19, getPriority(0) + 10));
  } catch {
    // not permitted here: the UI keeps its priority
  }
}
