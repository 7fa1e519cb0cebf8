import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { applyChatTemplate, ChatError, ChatTemplate } from "../../../core/chat/index.ts";
import { readGguf } from "../../../core/gguf/index.ts";
import { skipNoVocabs, VOCAB_DIR } from "../tokenizer/fixtures.ts";

const vocab = (name: string) => readGguf(path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`));

test("a model without a chat template is a clear error", { skip: skipNoVocabs }, async () => {
  await assert.rejects(applyChatTemplate(vocab("gpt-2"), [{ role: "user", content: "hi" }]), (e: unknown) => e instanceof ChatError && /no chat template/.test(e.message));
});

test("chat templates render with the generation prompt; the BOS text goes when the tokenizer adds BOS itself", { skip: skipNoVocabs }, async () => {
  const chat = [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }, { role: "user", content: "How are you?" }];
  // phi-3 adds BOS when tokenizing, so the template's {{ bos_token }} is dropped as llama.cpp drops it.
  assert.equal(await applyChatTemplate(vocab("phi-3"), chat),
    "<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nHow are you?<|end|>\n<|assistant|>\n");
  const qwen = vocab("qwen2");
  const first = [{ role: "user", content: "Hi" }];
  assert.equal(await applyChatTemplate(qwen, first),
    "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  assert.equal(await applyChatTemplate(qwen, first, { addGenerationPrompt: false }),
    "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
});

test("a template that raises, or does not parse, gives a ChatError with its message", { skip: skipNoVocabs }, async () => {
  const f = vocab("qwen2");
  const raising = await ChatTemplate.load(f, "{{ raise_exception('roles must alternate') }}");
  assert.throws(() => raising.render([{ role: "user", content: "x" }]), (e: unknown) => e instanceof ChatError && /roles must alternate/.test(e.message));
  await assert.rejects(ChatTemplate.load(f, "{% if %}"), (e: unknown) => e instanceof ChatError && /cannot parse chat template/.test(e.message));
});

test("enable_thinking and reasoning_content reach the template; a template override replaces the model's", { skip: skipNoVocabs }, async () => {
  const t = await ChatTemplate.load(vocab("qwen2"),
    "{% for m in messages %}[{{ m.role }}:{{ m.content }}{% if m.reasoning_content %}|{{ m.reasoning_content }}{% endif %}]{% endfor %}" +
    "{% if enable_thinking is defined %}think={{ enable_thinking }}{% endif %}");
  assert.equal(t.render([{ role: "assistant", content: "A", reasoning: "R" }]), "[assistant:A|R]");
  assert.equal(t.render([{ role: "user", content: "x" }], { enableThinking: false }), "[user:x]think=false");
  assert.ok(t.hasThinkingSwitch);
});
