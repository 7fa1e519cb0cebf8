/** Which part of an assistant turn a piece of text belongs to. */
export type TurnPart = "thinking" | "answer";

import { THINK_CLOSE, THINK_OPEN } from "../sampling/grammar/thinking.ts";

export { THINK_CLOSE, THINK_OPEN };

/**
 * Splits a reasoning model's streamed output into its thinking (`<think>…</think>`, as Qwen3, QwQ and the
 * DeepSeek-R1 distills write it) and its answer. A think block counts only at the start of the output (after
 * whitespace); `startInside` is for templates whose generation prompt already opened it (the R1 distills end
 * theirs with "<think>\n"). Text that could still be the start of a tag is held back until the next push.
 */
export class ThinkingSplitter {
  private state: "start" | "thinking" | "answer";
  private held = "";
  /** Whitespace seen before the first non-space text (dropped if a think block follows). */
  private leading = "";

  constructor(startInside = false) {
    this.state = startInside ? "thinking" : "start";
  }

  /** Whether the output is inside the think block now. */
  get thinking(): boolean {
    return this.state === "thinking";
  }

  /** Feeds generated text; returns the text released to each part (tags themselves are dropped). */
  push(text: string): { thinking: string; answer: string } {
    const out = { thinking: "", answer: "" };
    let rest = this.held + text;
    this.held = "";
    while (rest !== "") {
      if (this.state === "start") {
        const trimmed = rest.trimStart();
        this.leading += rest.slice(0, rest.length - trimmed.length);
        if (trimmed === "") return out;
        if (trimmed.startsWith(THINK_OPEN)) {
          this.state = "thinking";
          this.leading = "";
          rest = trimmed.slice(THINK_OPEN.length);
        } else if (THINK_OPEN.startsWith(trimmed)) {
          this.held = trimmed;
          return out;
        } else {
          this.state = "answer";
          rest = this.leading + trimmed;
          this.leading = "";
        }
      } else if (this.state === "thinking") {
        const end = rest.indexOf(THINK_CLOSE);
        if (end >= 0) {
          out.thinking += rest.slice(0, end);
          this.state = "answer";
          rest = rest.slice(end + THINK_CLOSE.length);
        } else {
          const keep = partialTagSuffix(rest, THINK_CLOSE);
          out.thinking += rest.slice(0, rest.length - keep);
          this.held = rest.slice(rest.length - keep);
          return out;
        }
      } else {
        out.answer += rest;
        return out;
      }
    }
    return out;
  }

  /** The output ended: releases held text to the part it was in. */
  flush(): { thinking: string; answer: string } {
    const held = this.held;
    this.held = "";
    if (this.state === "thinking") return { thinking: held, answer: "" };
    const answer = this.leading + held;
    this.leading = "";
    return { thinking: "", answer };
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of `tag`. */
function partialTagSuffix(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) if (tag.startsWith(text.slice(text.length - n))) return n;
  return 0;
}

/** Whether a rendered prompt leaves a think block open (its generation prompt started the thinking). */
export function opensThinking(prompt: string): boolean {
  return prompt.lastIndexOf(THINK_OPEN) > prompt.lastIndexOf(THINK_CLOSE);
}
