import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ChatError, ContextOverflowError, type ChatStream, type ChatTurnResult, type ContextOverflowNotice } from "../../../core/chat/index.ts";
import { Engine } from "../../../core/engine.ts";
import { noShared } from "../../helpers/index.ts";
import { skipNoVocabs } from "../tokenizer/fixtures.ts";
import { writeQwen25Chat } from "./models.ts";

const skip = noShared || skipNoVocabs;
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-chat-session-"));
const model = path.join(dir, "qwen25.gguf");
if (!skip) writeQwen25Chat(model);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const GREEDY = { temperature: 0, maxTokens: 6 };

async function run(stream: ChatStream): Promise<ChatTurnResult & { streamed: string }> {
  let streamed = "";
  for await (const e of stream) streamed += e.text;
  return { ...(await stream.result), streamed };
}

/** Prompt tokens of `next` whose K/V the previous turn computed: its prompt and every answer token it fed. */
function computedBefore(prev: ChatTurnResult): number {
  return prev.promptTokens.length + prev.tokens.length - (prev.finishReason === "eos" ? 0 : 1);
}

test("three turns: each turn's prompt extends the last one's tokens and only the new tokens are computed", { skip }, async () => {
  const engine = await Engine.load({ model, threads: 2 });
  const session = await engine.chat({ systemPrompt: "You are terse." });
  const turns: (ChatTurnResult & { streamed: string })[] = [];
  for (const text of ["Hello there", "What is two plus two?", "Thanks!"]) turns.push(await run(session.prompt(text, GREEDY)));
  for (const [i, r] of turns.entries()) {
    assert.equal(r.streamed, r.answer, "the stream carries the answer (no thinking here)");
    if (i === 0) {
      assert.equal(r.stats.promptTokensComputed, r.promptTokens.length);
      continue;
    }
    const prev = turns[i - 1]!;
    assert.deepEqual(r.promptTokens.slice(0, prev.promptTokens.length + prev.tokens.length), [...prev.promptTokens, ...prev.tokens]);
    assert.equal(r.stats.promptTokensCached, computedBefore(prev), `turn ${i + 1}: cached`);
    assert.equal(r.stats.promptTokensComputed, r.promptTokens.length - computedBefore(prev), `turn ${i + 1}: computed = new tokens`);
    console.log(`turn ${i + 1}: prompt ${r.promptTokens.length} tokens, ${r.stats.promptTokensCached} cached, ${r.stats.promptTokensComputed} computed`);
  }
  assert.deepEqual(session.history.map((m) => m.role), ["user", "assistant", "user", "assistant", "user", "assistant"]);
  assert.equal(session.history[5]!.content, turns[2]!.answer);

  // Reusing cached K/V changes nothing: a fresh engine without prefix caching gives the third turn's tokens.
  const fresh = await Engine.load({ model, threads: 2, prefixCaching: false });
  const again = await fresh.generate(turns[2]!.promptTokens, GREEDY);
  assert.deepEqual(again.tokens, turns[2]!.tokens);
  fresh.close();
  engine.close();
});

test("fork branches a conversation; save/load restores it and the next turn still reuses the cache", { skip }, async () => {
  const engine = await Engine.load({ model, threads: 2 });
  const session = await engine.chat({ systemPrompt: "Be brief." });
  const first = await run(session.prompt("Tell me a story", GREEDY));
  const branch = session.fork();
  const a = await run(session.prompt("Shorter", GREEDY));
  const b = await run(branch.prompt("Longer", GREEDY));
  assert.equal(session.history.length, 4);
  assert.equal(branch.history.length, 4);
  assert.equal(branch.history[2]!.content, "Longer");
  assert.equal(a.stats.promptTokensCached, computedBefore(first));
  // The branch reuses the shared turn, and more: "<|im_end|>\n<|im_start|>user\n" after it matches the other branch.
  assert.ok(b.stats.promptTokensCached >= computedBefore(first), "the branch reuses the shared turn");

  const saved = JSON.parse(JSON.stringify(session.save()));
  const restored = await engine.chat();
  restored.load(saved);
  assert.equal(restored.systemPrompt, "Be brief.");
  assert.deepEqual(restored.history, session.history);
  const c = await run(restored.prompt("And then?", GREEDY));
  assert.equal(c.stats.promptTokensCached, computedBefore(a), "the restored conversation's tokens are found in the cache");
  assert.throws(() => restored.load({ format: "infer-repl-chat", version: 1, messages: [{ role: "user" }] }), ChatError);
  assert.throws(() => restored.load({ format: "something", version: 1, messages: [] }), /not a saved conversation/);

  session.reset();
  assert.equal(session.history.length, 0);
  engine.close();
});

test("a conversation that outgrows the context: error says so, shift and truncate-middle drop turns and announce it first", { skip }, async () => {
  const engine = await Engine.load({ model, threads: 2, contextSize: 96 });
  const long = "please answer this question about the weather in some detail";
  const fill = async (policy: "error" | "shift" | "truncate-middle") => {
    const notices: ContextOverflowNotice[] = [];
    const session = await engine.chat({ systemPrompt: "Be brief.", contextOverflow: policy, onContextOverflow: (n) => notices.push(n) });
    const results: ChatTurnResult[] = [];
    for (let i = 0; i < 6; i++) results.push(await run(session.prompt(`${i}: ${long}`, GREEDY)));
    return { session, notices, results };
  };
  const failing = await engine.chat({ systemPrompt: "Be brief." });
  let error: unknown;
  try {
    for (let i = 0; i < 6; i++) await run(failing.prompt(`${i}: ${long}`, GREEDY));
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ContextOverflowError, String(error));
  assert.match((error as Error).message, /context holds 96/);
  const kept = failing.history.length;
  assert.ok(kept >= 2 && kept % 2 === 0, "the failed turn left the history as it was");

  const shifted = await fill("shift");
  assert.ok(shifted.notices.length > 0);
  for (const n of shifted.notices) assert.ok(n.dropped.length >= 2 && n.keptTokens + n.reserve <= 96 && n.neededTokens + n.reserve > 96);
  const users = (messages: { role: string; content: string }[]) => messages.filter((m) => m.role === "user").map((m) => m.content.split(":")[0]);
  // shift: the oldest turns go, in order; what is left is the latest turns.
  const shiftedOut = users(shifted.notices.flatMap((n) => n.dropped)), shiftedKept = users([...shifted.session.history]);
  assert.deepEqual([...shiftedOut, ...shiftedKept], ["0", "1", "2", "3", "4", "5"]);

  const middle = await fill("truncate-middle");
  assert.ok(middle.notices.length > 0);
  // truncate-middle: the first exchange stays, the turns after it go in order.
  const middleOut = users(middle.notices.flatMap((n) => n.dropped)), middleKept = users([...middle.session.history]);
  assert.equal(middleKept[0], "0");
  assert.deepEqual([middleKept[0], ...middleOut, ...middleKept.slice(1)], ["0", "1", "2", "3", "4", "5"]);
  for (const r of [...shifted.results, ...middle.results]) assert.ok(r.promptTokens.length + GREEDY.maxTokens <= 96);
  engine.close();
});
