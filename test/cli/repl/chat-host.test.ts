import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { chatSettingsOf, generateOptionsOf, loadSettingsOf, type ReplConfig } from "../../../cli/repl/config.ts";
import { EngineHost } from "../../../cli/repl/engine-host.ts";
import type { Event } from "../../../cli/repl/protocol.ts";
import { noShared } from "../../helpers/index.ts";
import { writeQwen25Chat } from "../../core/chat/models.ts";
import { skipNoVocabs } from "../../core/tokenizer/fixtures.ts";

const dir = mkdtempSync(path.join(tmpdir(), "repl-chat-host-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

// The REPL's side of a conversation that outgrows the context: with "error" the turn fails saying so; with
// "shift" a notice says what is dropped before the turn's answer arrives.
test("chat turns past the context: the policy applies and a notice comes before anything is dropped", { skip: noShared || skipNoVocabs, timeout: 120_000 }, async () => {
  const model = path.join(dir, "qwen25.gguf");
  writeQwen25Chat(model);
  const events: Event[] = [];
  let wake = () => {};
  const h = new EngineHost((e) => {
    events.push(e);
    wake();
  });
  const until = async (done: (e: Event) => boolean) => {
    while (!events.some(done)) await new Promise<void>((r) => (wake = r));
    return events.find(done)!;
  };
  const config: ReplConfig = { temp: 0, "n-predict": 6, "ctx-size": 96, system: "Be brief." };
  h.handle({ type: "load", model, settings: loadSettingsOf(config), batching: {} });
  assert.equal((await until((e) => e.type === "loaded")).type, "loaded");
  const say = async (id: number, text: string, c: ReplConfig) => {
    h.handle({ type: "chat", ids: [id], text, options: [generateOptionsOf(c)], chat: chatSettingsOf(c) });
    return until((e) => (e.type === "done" || e.type === "failed") && e.id === id);
  };
  const long = "please answer this question about the weather in some detail";
  let failed: Event | undefined;
  for (let i = 1; i <= 6 && !failed; i++) {
    const e = await say(i, `${i}: ${long}`, config);
    if (e.type === "failed") failed = e;
  }
  assert.ok(failed && failed.type === "failed");
  assert.match(failed.message, /the conversation needs \d+ prompt tokens and 6 more for the answer, but the context holds 96/);
  assert.ok(!events.some((e) => e.type === "notice" && /drops/.test(e.text)), "nothing was dropped under 'error'");

  const shift = { ...config, "context-overflow": "shift" };
  const before = events.length;
  const done = await say(10, `again: ${long}`, shift);
  assert.equal(done.type, "done");
  const after = events.slice(before);
  const noticeAt = after.findIndex((e) => e.type === "notice" && /no longer fits.*context-overflow shift drops 2 earlier messages/.test(e.text));
  assert.ok(noticeAt >= 0, JSON.stringify(after.filter((e) => e.type === "notice")));
  assert.ok(noticeAt < after.findIndex((e) => e.type === "tokens" || e.type === "done"), "the notice comes before the answer");
  assert.equal(done.type === "done" && done.conversation!.messages[0]!.content.startsWith("2:"), true, "the oldest turn went");
});
