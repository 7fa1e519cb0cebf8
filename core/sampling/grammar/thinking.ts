/**
 * Reasoning models (Qwen3, QwQ, the DeepSeek-R1 distills) write a think block before their answer. A constraint
 * holds the answer only: these grammars let the output begin with the block, free text, and apply the request's
 * grammar from after it. The block stays inside the grammar (rather than the grammar starting late) so that a
 * generation running out of tokens is steered to close its thinking in time, as it is steered to close its JSON.
 */

export const THINK_OPEN = "<think>", THINK_CLOSE = "</think>";

/**
 * Where a constrained output starts: "may-think" when the model may open a think block first (a reasoning
 * template's generation prompt that did not open one), "thinking" when the prompt already opened it.
 */
export type ThinkingStart = "may-think" | "thinking";

/** The start symbol of afterThinking's grammar (a name GBNF sources and the schema converter do not use). */
export const AFTER_THINKING_ROOT = "infer-repl-after-thinking";

/** `source` (start symbol `root`) preceded by a think block: optional with "may-think", its rest with "thinking". */
export function afterThinking(source: string, root: string, start: ThinkingStart): string {
  const think = start === "thinking" ? "infer-repl-think-rest" : "infer-repl-think?";
  return `${source}
${AFTER_THINKING_ROOT} ::= ${think} ${root}
infer-repl-think ::= "${THINK_OPEN}" infer-repl-think-rest
infer-repl-think-rest ::= infer-repl-think-text "${THINK_CLOSE}" [ \\t\\n]{0,4}
# Any text without "${THINK_CLOSE}" in it: each "<" starts a proper prefix of the tag that then turns away from it.
infer-repl-think-text ::= ( [^<] | "<" ( [^/<] | "/" ( [^t<] | "t" ( [^h<] | "h" ( [^i<] | "i" ( [^n<] | "n" ( [^k<] | "k" [^><] ) ) ) ) ) ) )*
`;
}

/** Where a rendered chat prompt leaves the model: inside a think block it opened, or free to open one, or neither. */
export function thinkingStart(prompt: string, templateThinks: boolean): ThinkingStart | undefined {
  const open = prompt.lastIndexOf(THINK_OPEN), close = prompt.lastIndexOf(THINK_CLOSE);
  if (open > close) return "thinking";
  // A generation prompt that ends with a closed, empty block (Qwen3 with enable_thinking false) means no thinking.
  if (!templateThinks || (close >= 0 && prompt.trimEnd().endsWith(THINK_CLOSE))) return undefined;
  return "may-think";
}
