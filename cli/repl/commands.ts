import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { SETTINGS } from "./config.ts";

export const TUNE_USAGE = ":tune [latency|throughput|both] [--streams 32] [--p99 MS] [--budget 120] [--prompts FILE] [--max-ppl-rise 1]";

/** The `:` commands: one table drives parsing, :help and Tab completion. */
export interface CommandDef {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  /** What Tab completes for the first argument. */
  readonly completes?: "setting" | "file" | "recipe";
}

export const COMMANDS: readonly CommandDef[] = [
  { name: "help", usage: ":help", summary: "list the commands and keys" },
  { name: "load", usage: ":load MODEL", summary: "load a GGUF file or a known model (stories15M)", completes: "file" },
  { name: "set", usage: ":set KEY VALUE", summary: "change a setting ('default' resets it)", completes: "setting" },
  { name: "show", usage: ":show", summary: "show or hide the settings panel" },
  { name: "batch", usage: ":batch [max-seqs N] [max-batch-tokens N] [max-wait-ms N]", summary: "show or set continuous batching" },
  { name: "spec", usage: ":spec ngram|draft|self:L|off [K]", summary: "speculative decoding, K drafted tokens at most (draft needs :set draft MODEL)" },
  { name: "exit-early", usage: ":exit-early L:T,L:T|off", summary: "early exit: leave at layer L when the top token is T likely" },
  { name: "parallel", usage: ":parallel N [PROMPT]", summary: "run PROMPT (or every prompt from now on) N times at once" },
  { name: "chat", usage: ":chat on|off", summary: "chat mode (a cell is a user turn of the conversation) or plain completion" },
  { name: "system", usage: ":system TEXT", summary: "the system prompt of chat mode (:system off removes it)" },
  { name: "new", usage: ":new", summary: "start a new conversation" },
  { name: "compare", usage: ":compare A B [PROMPTS-FILE]", summary: "two recipes (or 'current' settings) on the same prompts (a file's lines, else the last prompt), side by side", completes: "file" },
  { name: "keep", usage: ":keep K|A|B|tuned", summary: "go on from answer K of the last :parallel chat turn, adopt side A or B of the last :compare, or the last :tune's best" },
  { name: "think", usage: ":think show|fold|hide", summary: "a reasoning model's thinking: shown dimmed, folded to one line when done, or hidden" },
  { name: "bench", usage: ":bench [-p N] [-n N] [--parallel 1,4]", summary: "prefill and decode tokens/s" },
  { name: "tune", usage: TUNE_USAGE, summary: "search threads, batching, KV and speculation for the fastest configuration on the workload (a prompts file, else the cells); Ctrl+C keeps the best so far" },
  { name: "ppl", usage: ":ppl FILE [-c 128]", summary: "perplexity of a text file (llama.cpp's method, chunks of -c tokens)", completes: "file" },
  { name: "save", usage: ":save FILE", summary: "save cells, settings and model to a session file", completes: "file" },
  { name: "open", usage: ":open FILE", summary: "open a saved session", completes: "file" },
  { name: "export", usage: ":export recipe FILE.ts", summary: "write a recipe from the live configuration", completes: "recipe" },
  { name: "serve", usage: ":serve PORT|off", summary: "serve the loaded model at http://127.0.0.1:PORT/v1 (OpenAI API)" },
  { name: "clear", usage: ":clear", summary: "forget the cells (the screen keeps its scrollback)" },
  { name: "quit", usage: ":quit", summary: "leave (also Ctrl+D)" },
];

export const KEY_HELP = [
  "Enter runs the prompt; a trailing \\ or Alt+Enter continues on a new line",
  "Up/Down: history   Tab: complete   Ctrl+C: stop the generation or :bench/:ppl/:tune (clear the line when idle)",
  "Ctrl+L: clear the screen   PgUp/PgDn: scroll the settings panel   Ctrl+D: quit",
];

export interface ParsedCommand {
  readonly name: string;
  readonly args: string;
}

export class CommandError extends Error {
  override name = "CommandError";
}

/** `:name args…` → the command (a unique prefix is enough: `:sh` is :show) and the rest of the line. */
export function parseCommand(line: string): ParsedCommand {
  const m = /^:(\S*)\s*([\s\S]*)$/.exec(line.trim());
  if (!m || m[1] === "") throw new CommandError("type a command after ':' (:help lists them)");
  const word = m[1]!;
  const exact = COMMANDS.find((c) => c.name === word);
  const matches = exact ? [exact] : COMMANDS.filter((c) => c.name.startsWith(word));
  if (matches.length === 0) throw new CommandError(`unknown command ':${word}' (:help lists them)`);
  if (matches.length > 1) throw new CommandError(`':${word}' is ambiguous: ${matches.map((c) => ":" + c.name).join(", ")}`);
  return { name: matches[0]!.name, args: m[2]!.trim() };
}

export interface Completion {
  /** The line after completing as far as is unambiguous. */
  readonly line: string;
  /** Every candidate, when there is more than one. */
  readonly candidates: readonly string[];
}

/** Tab: completes a command name, a setting key after :set, or a file path for commands that take one. */
export function complete(line: string, cwd = process.cwd()): Completion {
  const none = { line, candidates: [] };
  if (!line.startsWith(":") || line.includes("\n")) return none;
  const firstSpace = line.indexOf(" ");
  if (firstSpace < 0) {
    return completeWord(line, COMMANDS.map((c) => ":" + c.name), " ");
  }
  const name = line.slice(1, firstSpace);
  const def = COMMANDS.find((c) => c.name === name);
  const rest = line.slice(firstSpace + 1);
  if (!def?.completes || /\s/.test(rest.trimStart()) && def.completes !== "recipe") return none;
  const head = line.slice(0, firstSpace + 1);
  if (def.completes === "setting") {
    const c = completeWord(rest, [...SETTINGS.keys()], " ");
    return { line: head + c.line, candidates: c.candidates };
  }
  if (def.completes === "recipe") {
    if (!rest.includes(" ")) {
      const c = completeWord(rest, ["recipe"], " ");
      return { line: head + c.line, candidates: c.candidates };
    }
    const [word, ...more] = rest.split(" ");
    if (more.length !== 1) return none;
    const c = completePath(more[0]!, cwd);
    return { line: `${head}${word} ${c.line}`, candidates: c.candidates };
  }
  const c = completePath(rest, cwd);
  return { line: head + c.line, candidates: c.candidates };
}

function completeWord(word: string, options: readonly string[], suffix: string): Completion {
  const matches = options.filter((o) => o.startsWith(word));
  if (matches.length === 0) return { line: word, candidates: [] };
  if (matches.length === 1) return { line: matches[0]! + suffix, candidates: [] };
  return { line: commonPrefix(matches), candidates: matches };
}

function completePath(partial: string, cwd: string): Completion {
  const dirPart = partial.includes("/") ? partial.slice(0, partial.lastIndexOf("/") + 1) : "";
  const base = partial.slice(dirPart.length);
  let entries: string[];
  try {
    entries = readdirSync(path.resolve(cwd, dirPart || "."));
  } catch {
    return { line: partial, candidates: [] };
  }
  const names = entries.filter((e) => e.startsWith(base) && (base.startsWith(".") || !e.startsWith("."))).sort()
    .map((e) => (isDir(path.resolve(cwd, dirPart, e)) ? e + "/" : e));
  if (names.length === 0) return { line: partial, candidates: [] };
  if (names.length === 1) return { line: dirPart + names[0]!, candidates: [] };
  return { line: dirPart + commonPrefix(names), candidates: names };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function commonPrefix(words: readonly string[]): string {
  let prefix = words[0]!;
  for (const w of words) while (!w.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

/** Splits arguments on spaces, keeping "quoted strings" whole. */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!);
  return out;
}
