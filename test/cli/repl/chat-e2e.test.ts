import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { SavedChat } from "../../../core/chat/index.ts";
import { readGguf } from "../../../core/gguf/index.ts";
import { loadSession } from "../../../cli/session/session-file.ts";
import { loadTokenizer } from "../../../core/tokenizer/index.ts";
import { noShared } from "../../helpers/index.ts";
import { hasTmux, Terminal } from "../../helpers/terminal.ts";
import { END_THINK, IM_END, QWEN2_VOCAB, THINK, writeQwen25Chat, writeQwen3Thinker } from "../../core/chat/models.ts";
import { skipNoVocabs } from "../../core/tokenizer/fixtures.ts";

// Chat mode end to end in a pseudo-terminal, on synthetic models with the qwen2 vocabulary and real chat templates.
const skip = !hasTmux ? "tmux is not installed (apt-get install -y tmux)" : noShared || skipNoVocabs;
const dir = mkdtempSync(path.join(tmpdir(), "repl-chat-e2e-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A chat cell's stats: prompt tokens, cached, computed, generated, and how it ended. */
interface TurnStats { prompt: number; cached: number; computed: number; tokens: number; end: string }

// A chat cell's stats line (it may wrap at the terminal's width).
const STATS = /prompt\s+(\d+)\s+tokens\s+\((\d+)\s+cached,\s+(\d+)\s+computed\)[\s\S]*?·\s+(\d+)\s+tokens\s+·\s+(\w+)/g;
const toStats = (m: RegExpExecArray): TurnStats => ({ prompt: +m[1]!, cached: +m[2]!, computed: +m[3]!, tokens: +m[4]!, end: m[5]! });

/** The stats of the turn `text` (of its answer #k after :parallel). */
function turnStats(screen: string, text: string, k?: number): TurnStats | undefined {
  let at = screen.lastIndexOf(`you: ${text}\n`);
  if (at >= 0 && k !== undefined) at = screen.indexOf(`\n#${k}\n`, at);
  if (at < 0) return undefined;
  const m = new RegExp(STATS.source).exec(screen.slice(at));
  return m ? toStats(m) : undefined;
}

/** The stats line lowest on the screen. */
function lastStats(screen: string): TurnStats | undefined {
  const m = [...screen.matchAll(STATS)].at(-1);
  return m && toStats(m as RegExpExecArray);
}

async function turn(term: Terminal, text: string): Promise<TurnStats> {
  term.line(text);
  let stats: TurnStats | undefined;
  await term.waitFor((s) => (stats = turnStats(s, text)) !== undefined, `the stats of the turn ${JSON.stringify(text)}`);
  return stats!;
}

/** Prompt tokens the turn after `prev` finds cached: prev's prompt and every answer token it fed (not the last one sampled unless it was EOS). */
const fedBy = (prev: TurnStats) => prev.prompt + prev.tokens - (prev.end === "eos" ? 0 : 1);

test("chat mode: three turns reuse the cache (the third computes only its new tokens), Ctrl+C stops a turn and the conversation goes on, :save/:open restore it, :parallel 2 + :keep 2", { skip, timeout: 300_000 }, async (t) => {
  const model = path.join(dir, "qwen25-chat.gguf");
  writeQwen25Chat(model);
  const term = new Terminal(dir, ["-m", model, "--temp", "0", "-n", "8", "-c", "8192"]);
  t.after(() => term.kill());
  await term.waitText("loaded " + model);
  // The synthetic model's metadata says it was trained on 256 positions.
  await term.waitText("the context size 8192 is longer than the 256 tokens the model was trained on");
  await term.waitFor((s) => / · chat · /.test(s), "chat mode in the status bar (the model has a chat template)");

  await term.command(":system You are terse.", "system = You are terse.");
  const first = await turn(term, "Hello there");
  assert.equal(first.cached, 0);
  assert.equal(first.computed, first.prompt);
  const second = await turn(term, "What is two plus two?");
  const third = await turn(term, "Thanks!");
  for (const [prev, next] of [[first, second], [second, third]] as const) {
    assert.equal(next.cached, fedBy(prev), "the earlier turns' tokens come from the cache");
    assert.equal(next.computed, next.prompt - fedBy(prev), "only the new tokens are computed");
  }
  t.diagnostic(`third turn: prompt ${third.prompt} tokens, ${third.cached} cached, ${third.computed} computed (the previous turn fed ${fedBy(second)})`);
  await term.waitText(" · chat 3 turns · ");

  // A long answer, stopped while it streams; the conversation keeps the part that was written. The synthetic model
  // writes thousands of tokens a second, so the answer may run to 7000 tokens: on a loaded machine a 700-token one
  // could end before the key arrives.
  await term.command(":set n-predict 7000", "n-predict = 7000");
  term.line("Tell me a long story");
  await term.waitFor((s) => /you: Tell me a long story\n[\s\S]*\n\d+ tokens…/.test(s), "the long turn streaming", 60_000, 25, () => term.visible());
  term.key("C-c");
  let stopped: TurnStats | undefined;
  // Found at the bottom of the screen: on a loaded machine the key may land after more lines than the scrollback
  // keeps, and the turn's own "you:" line is gone by then.
  await term.waitFor((s) => (stopped = lastStats(s))?.end === "stopped", "the stopped turn", 60_000, 25, () => term.visible());
  assert.equal(stopped!.end, "stopped");
  assert.ok(stopped!.tokens < 7000);
  await term.command(":set n-predict 8", "n-predict = 8");
  const after = await turn(term, "Go on");
  // The conversation goes on from the cache: every earlier turn at least. The stopped turn's own tokens should be
  // cached too, and mostly are; once (an AVX2 host, a stop after ~6 tokens) 70 of 85 were: the stopped turn's text
  // did not re-render to what the model saw, so the prompt was tokenized afresh. A lead (core/chat/session.ts `seen`).
  assert.ok(after.cached >= fedBy(third) && after.cached <= fedBy(stopped!), `the turn after Ctrl+C continues the conversation: ${after.cached} cached, ${fedBy(third)} from earlier turns, ${fedBy(stopped!)} fed`);
  assert.equal(after.computed, after.prompt - after.cached);
  await term.waitText(" · chat 5 turns · ");

  // :save, :new, :open: the restored conversation's next turn finds its tokens in the cache.
  const session = path.join(dir, "chat.session"), recipe = path.join(dir, "chat-recipe.ts");
  await term.command(`:save ${session}`, `the conversation (5 turns) and the settings to ${session}`);
  await term.command(":new", "a new conversation starts");
  await term.waitFor((s) => / · chat · /.test(s.split("\n").filter(Boolean).at(-1) ?? ""), "no turns after :new", 10_000, 25, () => term.visible());
  await term.command(`:open ${session}`, "a conversation of 5 turns (the next chat cell continues it)");
  const resumed = await turn(term, "One more thing");
  assert.equal(resumed.cached, fedBy(after), "the restored conversation reuses the cached turns");
  assert.equal(resumed.computed, resumed.prompt - fedBy(after));
  await term.waitText(" · chat 6 turns · ");

  // :parallel 2 gives two answers to one turn; :keep 2 goes on from the second, and the next turn reuses it.
  await term.command(":set temp 0.9", "temp = 0.9");
  await term.command(":set seed 11", "seed = 11");
  await term.command(":parallel 2", "parallel = 2");
  await term.command("Pick one", "2 answers: the conversation goes on from #1 unless you :keep K");
  let second2: TurnStats | undefined;
  await term.waitFor((s) => turnStats(s, "Pick one", 1) !== undefined && (second2 = turnStats(s, "Pick one", 2)) !== undefined, "both answers");
  await term.command(":keep 2", "kept answer #2: the conversation goes on from it");
  await term.command(":parallel 1", "parallel = 1");
  await term.command(":set temp 0", "temp = 0 (from");
  const kept = await turn(term, "Good choice");
  assert.equal(kept.cached, fedBy(second2!), "the next turn goes on from answer #2, found in the cache");
  await term.waitText(" · chat 8 turns · ");
  const keptFile = path.join(dir, "kept.session");
  await term.command(`:save ${keptFile}`, `to ${keptFile}`);
  const saved = loadSession(keptFile);
  const answers = saved.cells.filter((c) => c.prompt === "Pick one").map((c) => c.output);
  const messages = (saved.chat as unknown as SavedChat).messages;
  assert.notEqual(answers[0], answers[1], "two different answers (temperature 0.9, seeds 11 and 12)");
  assert.deepEqual(messages.slice(-4, -2), [{ role: "user", content: "Pick one" }, { role: "assistant", content: answers[1] }]);

  await term.command(`:export recipe ${recipe}`, `wrote the recipe ${recipe}`);
  assert.match(readFileSync(recipe, "utf8"), /chat: \{ system: "You are terse\." \}/);
  term.line(":quit");
  assert.equal(await term.exitCode(), 0, term.screen());
});

test("chat mode on a Qwen3-shaped reasoning model: the think block is folded to one line and kept out of the next turn", { skip, timeout: 300_000 }, async (t) => {
  const tok = loadTokenizer(readGguf(QWEN2_VOCAB));
  const id = (text: string) => tok.encode(text, { addSpecial: false })[0]!;
  const model = path.join(dir, "qwen3-thinker.gguf");
  writeQwen3Thinker(model, [id("\n"), THINK, id("Hmm"), id(" let"), id(" me"), id(" think"), END_THINK, id("\n\n"), id("Hi"), id("!"), IM_END]);
  const term = new Terminal(dir, ["-m", model, "--temp", "0", "-n", "32"]);
  t.after(() => term.kill());
  await term.waitText("loaded " + model);
  await term.waitFor((s) => / · chat · think fold · /.test(s), "chat mode with thinking in the status bar");

  const first = await turn(term, "Hello");
  let screen = term.screen();
  assert.match(screen, /you: Hello\n▸ thought: Hmm let me think\nHi!\n/);
  assert.match(screen, /thinking 6 at [\d.]+ t\/s, answer 3 at [\d.]+ t\/s/);
  // Qwen3's template drops the earlier turn's reasoning: the next prompt departs from the cached tokens right after
  // that turn's "<|im_start|>assistant\n", which ended the first prompt.
  const second = await turn(term, "And now?");
  assert.equal(second.cached, first.prompt);

  await term.command(":think show", "think = show");
  await turn(term, "Show me");
  screen = term.screen();
  assert.match(screen, /you: Show me\nHmm let me think\nHi!\n/);
  await term.command(":think hide", "think = hide");
  await turn(term, "Hide it");
  assert.match(term.screen(), /you: Hide it\nHi!\n/);
  term.line(":quit");
  assert.equal(await term.exitCode(), 0, term.screen());
});
