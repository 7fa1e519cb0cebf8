import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { noShared, sharedModel } from "../helpers/index.ts";

// A worker thread's environment can be torn down while a forward runs (the REPL's :quit right after a stopped
// :bench): node then completes the forward with JavaScript off, settling its promise fails, and that failure must
// not be a fatal error for the whole process. A child process runs it, so that a crash is a status, not this runner's.
test("terminating a worker thread whose forward is running leaves the process running", { skip: noShared }, () => {
  const engineUrl = new URL("../../core/engine.ts", import.meta.url).href;
  const tsxUrl = import.meta.resolve("tsx/esm/api");
  // The prompt's prefill takes hundreds of milliseconds: the worker is terminated in the middle of it.
  const worker = `(async () => {
    const { register } = await import(${JSON.stringify(tsxUrl)});
    register();
    const { Engine } = await import(${JSON.stringify(engineUrl)});
    const { parentPort } = await import("node:worker_threads");
    const engine = await Engine.load({ model: ${JSON.stringify(sharedModel("stories15M-q8_0.gguf"))}, threads: 2, contextSize: 2048 });
    engine.generate("Once upon a time ".repeat(400), { temperature: 0, maxTokens: 1 }).catch(() => {});
    parentPort.postMessage("running");
  })()`;
  const parent = `
    import { Worker } from "node:worker_threads";
    for (let i = 0; i < 3; i++) {
      const w = new Worker(${JSON.stringify(worker)}, { eval: true });
      await new Promise((resolve) => w.once("message", resolve));
      await new Promise((resolve) => setTimeout(resolve, 30));
      await w.terminate();
    }
    console.log("still running");`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", parent], { encoding: "utf8", timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), "still running");
});
