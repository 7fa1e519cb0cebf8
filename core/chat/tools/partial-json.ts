// Reading JSON that a grammar-constrained model is still writing: valid so far, maybe cut anywhere.

const SPACE = /[ \t\n\r]/;

export function skipSpace(text: string, i: number): number {
  while (i < text.length && SPACE.test(text[i]!)) i++;
  return i;
}

/** The end of the JSON value that starts at `i` (after whitespace), or -1 when the text ends inside it. */
export function jsonValueEnd(text: string, i: number): number {
  i = skipSpace(text, i);
  if (i >= text.length) return -1;
  const c = text[i]!;
  if (c === '"') return stringEnd(text, i);
  if (c === "{" || c === "[") {
    let depth = 0;
    for (let k = i; k < text.length; k++) {
      const ch = text[k]!;
      if (ch === '"') {
        k = stringEnd(text, k) - 1;
        if (k < 0) return -1;
      } else if (ch === "{" || ch === "[") depth++;
      else if (ch === "}" || ch === "]") {
        if (--depth === 0) return k + 1;
      }
    }
    return -1;
  }
  // A number or literal ends at the first character that cannot continue it (at the text's end it may go on).
  let k = i;
  while (k < text.length && /[-+.0-9a-zA-Z]/.test(text[k]!)) k++;
  return k < text.length ? k : -1;
}

/** The end of the JSON string opening at `i` (after its closing quote), or -1 when it is not closed yet. */
function stringEnd(text: string, i: number): number {
  for (let k = i + 1; k < text.length; k++) {
    if (text[k] === "\\") k++;
    else if (text[k] === '"') return k + 1;
  }
  return -1;
}

/** A JSON string's value so far, from its opening quote at `i` (an escape cut in half is left out). */
export function partialJsonString(text: string, i: number): { value: string; done: boolean } {
  const end = stringEnd(text, i);
  if (end >= 0) return { value: JSON.parse(text.slice(i, end)) as string, done: true };
  let body = text.slice(i);
  const cut = body.match(/\\(u[0-9a-fA-F]{0,3})?$/);
  if (cut) body = body.slice(0, body.length - cut[0].length);
  try {
    return { value: JSON.parse(body + '"') as string, done: false };
  } catch {
    return { value: "", done: false };
  }
}

/** A call object as far as it is written: `{"name": ..., ARGS_KEY: {...}}` in any key order. */
export interface PartialCallObject {
  name?: string;
  /** The arguments' JSON text so far (whole once `argumentsDone`). */
  arguments?: string;
  argumentsDone: boolean;
  /** Just after the object's closing brace, once written. */
  end?: number;
}

/** Reads the call object that starts at `i` (after whitespace). */
export function partialCallObject(text: string, i: number, argumentsKey: string): PartialCallObject {
  const out: PartialCallObject = { argumentsDone: false };
  i = skipSpace(text, i);
  if (text[i] !== "{") return out;
  i++;
  for (;;) {
    i = skipSpace(text, i);
    if (i >= text.length) return out;
    if (text[i] === "}") {
      out.end = i + 1;
      return out;
    }
    if (text[i] === ",") {
      i++;
      continue;
    }
    const keyEnd = jsonValueEnd(text, i);
    if (keyEnd < 0) return out;
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    if (text[i] !== ":") return out;
    i = skipSpace(text, i + 1);
    const end = jsonValueEnd(text, i);
    if (key === argumentsKey) {
      out.arguments = (end < 0 ? text.slice(i) : text.slice(i, end)).trimEnd();
      out.argumentsDone = end >= 0;
    } else if (key === "name" && end >= 0) {
      out.name = JSON.parse(text.slice(i, end)) as string;
    }
    if (end < 0) return out;
    i = end;
  }
}
