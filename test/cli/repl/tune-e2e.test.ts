import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { modelsDir } from "../../helpers/paths.ts";
import { hasTmux, Terminal } from "../../helpers/terminal.ts";

const skip = !hasTmux ? "tmux is not installed (apt-get install -y tmux)"
  : !existsSync(path.join(modelsDir, "stories15M-f32.gguf")) ? "../shared/models is missing" : false;

// :tune in a pseudo-terminal: the live progress (bar, time left, candidates), Ctrl+C stopping it with the best so
// far, and :export recipe writing the tuned point with the search's figures. A small workload (4 streams) keeps it
// to seconds; the search is stopped long before its budget.
test(":tune shows progress, Ctrl+C stops it keeping the best so far, :export recipe writes it", { skip, timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "repl-tune-"));
  const prompts = path.join(dir, "prompts.txt"), recipe = path.join(dir, "tuned.ts");
  writeFileSync(prompts, "Once upon a time\nThe little dog\n");
  const term = new Terminal(dir, [], { env: { INFER_REPL_MODELS: modelsDir } });
  t.after(() => term.kill());
  await term.waitText("loaded " + modelsDir);

  term.line(`:tune --streams 4 --budget 60 --prompts ${prompts}`);
  await term.waitFor((s) => /tune throughput of 4 streams on 2 prompts, budget 60 s/.test(s), "the tune's job line", 20_000);
  // The live table: the progress line, then the candidates measured so far (the starting point first).
  await term.waitFor((s) => /█*░+ \d+% · \d+ s left · /.test(s) && /\bdefaults\s+measur(ed|ing)\s/.test(s) && /threads 1\s+measured\s/.test(s),
    "the progress line and a measured candidate", 90_000, 50, () => term.visible());
  term.key("C-c");
  const done = await term.waitFor((s) => /stopped in [\d.]+ s: best /.test(s), "the stopped tune's summary", 60_000);
  assert.match(done, /Pareto front \(tok\/s vs p99\)/);

  await term.command(`:export recipe ${recipe}`, `wrote the recipe ${recipe}`);
  const source = readFileSync(recipe, "utf8");
  assert.match(source, /\/\/ Auto-tuned \(infer-repl tune\) for throughput: 4 streams x \d+ tokens on 2 prompts, budget 60 s \(took \d+ s, stopped early\)/);
  assert.match(source, /\/\/ Chosen: /);
  assert.match(source, /batching: \{ maxSeqs: \d+, maxBatchTokens: \d+, maxWaitMs: \d+ \}/);
  term.line(":quit");
  assert.equal(await term.exitCode(), 0, term.screen());
});
