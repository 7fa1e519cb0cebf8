import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pack } from "msgpackr";
import { loadSession, saveSession, SessionError, type Session } from "../../../cli/session/session-file.ts";

const repoRoot = path.resolve(fileURLToPath(import.meta.url), "../../../..");
const sharedGguf = path.resolve(repoRoot, "../shared/models/stories260K.gguf");

const session: Session = {
  model: { path: "/models/stories15M-f32.gguf", sha256: "f51f2fd3ecd6955aa12157e321da576b107edb3c66558b0712178f8df8e2d2e4" },
  config: {
    temp: 0.7, topK: 40, topP: 0.95, seed: 42, stop: ["\n\n", "The end"], bos: true, minP: undefined,
    spec: { mode: "draft", k: 4 }, draft: null, note: "héllo ✓ 🌲",
  },
  cells: [
    { prompt: "Once upon a time", output: " there was a little girl named Lily.", stats: { prompt_tokens: 5, tokens: 9, decode_tokens_per_s: 812.25, ms: 11.1 } },
    { prompt: "", output: "", stats: { tokens_per_s: Number.NaN, ratio: Number.POSITIVE_INFINITY } },
  ],
  createdAt: "2026-11-23T05:50:01.123Z",
};

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-session-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function rejectsWith(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof SessionError && e.name === "SessionError" && pattern.test(e.message));
}

test("save then open restores cells, configuration and model exactly", (t) => {
  const file = path.join(tempDir(t), "s.irs");
  saveSession(file, session);
  assert.deepEqual(loadSession(file), session);
  saveSession(file, { ...session, model: null, cells: [] });
  assert.deepEqual(loadSession(file), { ...session, model: null, cells: [] });
});

test("a session saved here opens identically in a new process", (t) => {
  const dir = tempDir(t);
  const first = path.join(dir, "first.irs"), second = path.join(dir, "second.irs");
  saveSession(first, session);
  const moduleUrl = new URL("../../../cli/session/session-file.ts", import.meta.url).href;
  // The child opens the file and saves what it got; equal bytes mean it saw exactly what was saved.
  execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e",
    `import { loadSession, saveSession } from ${JSON.stringify(moduleUrl)}; saveSession(process.argv[1], loadSession(process.argv[2]));`,
    second, first], { cwd: repoRoot, stdio: "pipe" });
  assert.ok(readFileSync(second).equals(readFileSync(first)));
  assert.deepEqual(loadSession(second), session);
});

test("a missing file, a foreign file and a non-session msgpack file get clear errors", (t) => {
  const dir = tempDir(t);
  rejectsWith(() => loadSession(path.join(dir, "none.irs")), /none\.irs: no such file/);
  const text = path.join(dir, "notes.txt");
  writeFileSync(text, "{\"cells\": []}\n");
  rejectsWith(() => loadSession(text), /not an infer-repl session file/);
  if (existsSync(sharedGguf)) {
    const gguf = path.join(dir, "model.gguf");
    copyFileSync(sharedGguf, gguf);
    rejectsWith(() => loadSession(gguf), /not an infer-repl session file/);
  }
  const other = path.join(dir, "other.msgpack");
  writeFileSync(other, pack({ cells: [], config: {} }));
  rejectsWith(() => loadSession(other), /no infer-repl-session marker/);
  writeFileSync(other, pack([1, 2, 3]));
  rejectsWith(() => loadSession(other), /no infer-repl-session marker/);
});

test("a truncated or damaged session is refused, naming the bad field", (t) => {
  const file = path.join(tempDir(t), "s.irs");
  saveSession(file, session);
  const bytes = readFileSync(file);
  writeFileSync(file, bytes.subarray(0, bytes.length - 10));
  rejectsWith(() => loadSession(file), /corrupt or truncated/);
  const damaged = { magic: "infer-repl-session", version: 1, ...session, cells: [session.cells[0], { ...session.cells[1], prompt: 7 }] };
  writeFileSync(file, pack(damaged));
  rejectsWith(() => loadSession(file), /corrupt session file: cells\.1\.prompt: /);
  writeFileSync(file, pack({ ...damaged, cells: [], extra: 1 }));
  rejectsWith(() => loadSession(file), /corrupt session file: .*extra/);
  writeFileSync(file, pack({ magic: "infer-repl-session", version: "1" }));
  rejectsWith(() => loadSession(file), /bad format version 1/);
});

test("a file from a newer infer-repl says so", (t) => {
  const file = path.join(tempDir(t), "s.irs");
  writeFileSync(file, pack({ magic: "infer-repl-session", version: 2, whatever: true }));
  rejectsWith(() => loadSession(file), /written by a newer infer-repl \(session format 2; this version reads format 1\)/);
});

test("saving something that could not be opened again is refused up front", (t) => {
  const file = path.join(tempDir(t), "s.irs");
  rejectsWith(() => saveSession(file, { ...session, createdAt: "yesterday" }), /cannot save this session: createdAt/);
  rejectsWith(() => saveSession(file, { ...session, config: { f: (() => 1) as never } }), /cannot save this session: config\.f/);
  assert.ok(!existsSync(file));
  rejectsWith(() => saveSession(path.join(file, "no", "dir.irs"), session), /cannot write/);
});
