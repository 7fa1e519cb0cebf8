import { ChatError } from "../errors.ts";

/** A function the model may call, as OpenAI describes one: its arguments are JSON valid against `parameters`. */
export interface ChatTool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** Whether the model may ("auto"), must not ("none"), or must ("required", or this function) call tools. */
export type ToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } };

/** A call the model made: `arguments` is the JSON text it wrote (valid against the tool's parameters). */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A bad tools or tool_choice value; `field` names it (tools.1.function.name, tool_choice ...). */
export class ToolError extends ChatError {
  override name = "ToolError";
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** Checks tools and tool_choice (the shapes OpenAI accepts) and returns them; throws ToolError naming the field. */
export function checkTools(tools: unknown, choice: unknown): { tools: ChatTool[]; choice: ToolChoice } {
  if (tools !== undefined && !Array.isArray(tools)) throw new ToolError("tools", "expected an array of {type: \"function\", function: {name, description?, parameters?}}");
  const list = (tools ?? []) as unknown[];
  const seen = new Set<string>();
  const checked = list.map((t, i): ChatTool => {
    const at = `tools.${i}`;
    const o = t as { type?: unknown; function?: { name?: unknown; description?: unknown; parameters?: unknown } } | null;
    if (typeof o !== "object" || o === null || o.type !== "function") throw new ToolError(`${at}.type`, "expected \"function\"");
    const f = o.function;
    if (typeof f !== "object" || f === null) throw new ToolError(`${at}.function`, "expected {name, description?, parameters?}");
    if (typeof f.name !== "string" || !NAME.test(f.name)) throw new ToolError(`${at}.function.name`, "expected 1 to 64 letters, digits, _ or -");
    if (seen.has(f.name)) throw new ToolError(`${at}.function.name`, `"${f.name}" is given twice`);
    seen.add(f.name);
    if (f.description !== undefined && f.description !== null && typeof f.description !== "string") throw new ToolError(`${at}.function.description`, "expected a string");
    const p = f.parameters;
    if (p !== undefined && p !== null && (typeof p !== "object" || Array.isArray(p))) throw new ToolError(`${at}.function.parameters`, "expected a JSON Schema object");
    return {
      type: "function",
      function: { name: f.name, ...(typeof f.description === "string" && { description: f.description }), ...(p && { parameters: p as Record<string, unknown> }) },
    };
  });
  if (choice === undefined || choice === null) return { tools: checked, choice: checked.length > 0 ? "auto" : "none" };
  if (choice === "auto" || choice === "none" || choice === "required") {
    if (choice === "required" && checked.length === 0) throw new ToolError("tool_choice", `"required" needs tools`);
    return { tools: checked, choice: checked.length === 0 ? "none" : choice };
  }
  const named = choice as { type?: unknown; function?: { name?: unknown } };
  if (typeof named !== "object" || named.type !== "function" || typeof named.function?.name !== "string") {
    throw new ToolError("tool_choice", "expected \"auto\", \"none\", \"required\" or {type: \"function\", function: {name}}");
  }
  const name = named.function.name;
  if (!seen.has(name)) throw new ToolError("tool_choice.function.name", `"${name}" is not one of the tools`);
  return { tools: checked, choice: { type: "function", function: { name } } };
}
