import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { opensThinking, ThinkingSplitter, type ChatEvent, type ChatStream } from "../../../core/chat/index.ts";
import { Engine } from "../../../core/engine.ts";
import { readGguf } from "../../../core/gguf/index.ts";
import { loadTokenizer } from "../../../core/tokenizer/index.ts";
import { noShared } from "../../helpers/index.ts";
import { skipNoVocabs } from "../tokenizer/fixtures.ts";
import { END_THINK, IM_END, QWEN2_VOCAB, THINK, writeQwen3Thinker } from "./models.ts";

function split(chunks: string[], startInside = false): { thinking: string; answer: string } {
  const s = new ThinkingSplitter(startInside), out = { thinking: "", answer: "" };
  for (const c of [...chunks.map((t) => s.push(t)), s.flush()]) {
    out.thinking += c.thinking;
    out.answer += c.answer;
  }
  return out;
}

test("the splitter takes a leading think block apart, whatever the chunking, and only at the start", () => {
  const text = "\n<think>\nstep one\n</think>\n\nThe answer.";
  for (let cut = 0; cut <= text.length; cut++) {
    assert.deepEqual(split([text.slice(0, cut), text.slice(cut)]), { thinking: "\nstep one\n", answer: "\n\nThe answer." }, `cut at ${cut}`);
  }
  assert.deepEqual(split([..."<think>a</think>b"]), { thinking: "a", answer: "b" });
  assert.deepEqual(split(["No thinking <think>here</think>"]), { thinking: "", answer: "No thinking <think>here</think>" });
  assert.deepEqual(split(["  plain"]), { thinking: "", answer: "  plain" });
  assert.deepEqual(split(["<thi"]), { thinking: "", answer: "<thi" }, "an unfinished tag at the end is answer text");
  assert.deepEqual(split(["still thinking</thi", "nk>done"], true), { thinking: "still thinking", answer: "done" });
  assert.deepEqual(split(["cut off mid-thought </th"], true), { thinking: "cut off mid-thought </th", answer: "" });
  assert.ok(opensThinking("<|im_start|>assistant\n<think>\n"));
  assert.ok(!opensThinking("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
});

const skip = noShared || skipNoVocabs;
const dir = mkdtempSync(path.join(tmpdir(), "infer-repl-chat-think-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test("a Qwen3-shaped model's think block streams apart, is counted apart, and the template keeps it out of the next turn", { skip }, async () => {
  const tok = loadTokenizer(readGguf(QWEN2_VOCAB));
  const id = (text: string) => {
    const ids = tok.encode(text, { addSpecial: false });
    assert.equal(ids.length, 1, `${JSON.stringify(text)} is one token`);
    return ids[0]!;
  };
  // After the generation prompt's "\n": <think>Hmm let me think</think>\n\nHi!<|im_end|>
  const model = path.join(dir, "qwen3-thinker.gguf");
  writeQwen3Thinker(model, [id("\n"), THINK, id("Hmm"), id(" let"), id(" me"), id(" think"), END_THINK, id("\n\n"), id("Hi"), id("!"), IM_END]);
  const engine = await Engine.load({ model, threads: 2 });
  const session = await engine.chat({ systemPrompt: "Be brief." });
  const collect = async (stream: ChatStream) => {
    const events: ChatEvent[] = [];
    for await (const e of stream) events.push(e);
    const text = (part: string) => events.filter((e) => e.part === part).map((e) => e.text).join("");
    return { events, thinking: text("thinking"), answer: text("answer"), result: await stream.result };
  };

  const first = await collect(session.prompt("Hello", { temperature: 0, maxTokens: 32 }));
  assert.equal(first.thinking, "Hmm let me think");
  assert.equal(first.answer, "Hi!", "the answer streams without the newlines after </think>");
  assert.equal(first.result.answer, "Hi!");
  assert.equal(first.result.thinking, "Hmm let me think");
  assert.equal(first.result.finishReason, "eos");
  assert.equal(first.result.stats.thinkingTokens, 6, "<think>, four words, </think>");
  assert.equal(first.result.stats.answerTokens, 3);
  assert.ok(first.result.stats.thinkingTokensPerS > 0 && first.result.stats.answerTokensPerS > 0);
  assert.deepEqual(session.history[1], { role: "assistant", content: "Hi!", reasoning: "Hmm let me think" });

  // Qwen3's template drops the reasoning of turns before the last user message: the next prompt has no think
  // block, so it departs from the cached tokens right after the earlier turn's "<|im_start|>assistant\n".
  const second = await collect(session.prompt("And now?", { temperature: 0, maxTokens: 32 }));
  assert.ok(!second.result.promptTokens.includes(THINK) && !second.result.promptTokens.includes(END_THINK));
  assert.equal(tok.decode(second.result.promptTokens.slice(first.result.promptTokens.length, first.result.promptTokens.length + 3)), "Hi!");
  assert.equal(second.result.stats.promptTokensCached, first.result.promptTokens.length);
  assert.equal(second.result.answer, "Hi!");

  // enable_thinking false: the template writes an empty think block into the prompt, and the model answers at once.
  const quick = await collect(session.prompt("Quick one", { temperature: 0, maxTokens: 32, enableThinking: false }));
  assert.ok(engine.model.tokenizer.decode(quick.result.promptTokens, { renderSpecial: true }).endsWith("<think>\n\n</think>\n\n"));
  assert.equal(quick.thinking, "");
  assert.equal(quick.result.answer, "Hi!");
  assert.equal(quick.result.stats.thinkingTokens, 0);
  engine.close();
});
