import { Box, Text, useInput } from "ink";
import { useRef, useState } from "react";
import type { Completion } from "../commands.ts";

interface Props {
  readonly onSubmit: (text: string) => void;
  /** Ctrl+C. Returns true when it stopped something, so the line is kept. */
  readonly onInterrupt: () => boolean;
  readonly onQuit: () => void;
  /** Ctrl+L. */
  readonly onClearScreen: () => void;
  /** PgUp (-1) / PgDn (+1). */
  readonly onPage?: (direction: -1 | 1) => void;
  readonly complete: (line: string) => Completion;
  readonly history: readonly string[];
}

interface Line {
  readonly value: string;
  readonly cursor: number;
}

const EMPTY: Line = { value: "", cursor: 0 };

/**
 * The prompt line: editing with a cursor, history on Up/Down, Tab completion, and multi-line entry (a trailing
 * backslash or Alt+Enter starts a new line instead of submitting).
 */
export function InputLine({ onSubmit, onInterrupt, onQuit, onClearScreen, onPage, complete, history }: Props) {
  const [line, setLine] = useState<Line>(EMPTY);
  const [candidates, setCandidates] = useState<readonly string[]>([]);
  // A one-line hint under the input (how to quit, after Ctrl+C on an empty line); the next key clears it.
  const [hint, setHint] = useState("");
  // Position in history while browsing (history.length = the line being edited), and that line kept aside.
  const browse = useRef({ index: -1, draft: "" });
  const current = useRef(line);
  current.current = line;

  const set = (value: string, cursor = value.length) => {
    const next = { value, cursor };
    current.current = next; // several keys can arrive in one batch before React re-renders
    setLine(next);
  };

  useInput((input, key) => {
    setHint("");
    if (key.ctrl && input.length === 1) return control(String.fromCharCode(input.charCodeAt(0) & 0x1f));
    if (key.tab) return control("\t");
    setCandidates([]);
    // Alt+Enter arrives as ESC CR, which Ink passes on as input "\r" without key.return (Enter has key.return).
    if ((key.return && key.meta) || (!key.return && input === "\r")) return insert("\n");
    if (key.return) return enter();
    if (key.upArrow || key.downArrow) return browseHistory(key.upArrow ? -1 : 1);
    if (key.pageUp || key.pageDown) return onPage?.(key.pageUp ? -1 : 1);
    const { value, cursor } = current.current;
    if (key.leftArrow) return set(value, Math.max(0, cursor - 1));
    if (key.rightArrow) return set(value, Math.min(value.length, cursor + 1));
    // Terminals send DEL (0x7f) for Backspace, which Ink reports as `delete`: both erase to the left.
    if (key.backspace || key.delete) return control("\x7f");
    if (key.meta || key.escape || input === "") return;
    // Several keys can come in one chunk (fast typing, a paste, tmux send-keys): control characters in it act as
    // their keys (CR is Enter, TAB is Tab, ^C, ^D, ^U ...), the rest is text.
    for (const part of input.replace(/\r\n/g, "\r").split(/([\x00-\x09\x0b-\x1f\x7f])/)) {
      if (part.length === 1 && /[\x00-\x09\x0b-\x1f\x7f]/.test(part)) control(part);
      else if (part !== "") insert(part);
    }
  });

  function insert(text: string): void {
    const { value, cursor } = current.current;
    set(value.slice(0, cursor) + text + value.slice(cursor), cursor + text.length);
  }

  /** A control character, whether it came as its own key or inside a chunk. */
  function control(ch: string): void {
    const { value, cursor } = current.current;
    switch (ch) {
      case "\x03": // Ctrl+C
        if (!onInterrupt()) {
          if (value === "") setHint("Ctrl+D or :quit to exit");
          set("");
        }
        return setCandidates([]);
      case "\x0c": return onClearScreen(); // Ctrl+L
      case "\x04": return onQuit(); // Ctrl+D
      case "\r": return enter();
      case "\t": {
        const c = complete(value);
        set(c.line);
        return setCandidates(c.candidates);
      }
      case "\x01": return set(value, value.lastIndexOf("\n", cursor - 1) + 1); // Ctrl+A: start of line
      case "\x05": { // Ctrl+E: end of line
        const end = value.indexOf("\n", cursor);
        return set(value, end < 0 ? value.length : end);
      }
      case "\x15": return set(value.slice(cursor), 0); // Ctrl+U: erase to the start
      case "\x7f": case "\b":
        if (cursor > 0) set(value.slice(0, cursor - 1) + value.slice(cursor), cursor - 1);
        return;
    }
  }

  /** Enter: submits the line, or continues it when it ends with a backslash. */
  function enter(): void {
    const { value } = current.current;
    if (value.endsWith("\\")) return set(value.slice(0, -1) + "\n");
    browse.current = { index: -1, draft: "" };
    set("");
    setCandidates([]);
    onSubmit(value);
  }

  function browseHistory(step: -1 | 1): void {
    const b = browse.current;
    if (b.index === -1) b.draft = current.current.value;
    const index = (b.index === -1 ? history.length : b.index) + step;
    if (index < 0 || index > history.length) return;
    b.index = index === history.length ? -1 : index;
    set(index === history.length ? b.draft : history[index]!);
  }

  const lines = renderWithCursor(line);
  return (
    <Box flexDirection="column">
      {lines.map((l, i) => (
        <Text key={i}>
          <Text color="green">{i === 0 ? "› " : "… "}</Text>
          {l}
        </Text>
      ))}
      {candidates.length > 0 && <Text color="gray">{candidates.join("  ")}</Text>}
      {hint !== "" && <Text color="gray">{hint}</Text>}
    </Box>
  );
}

/** The value split into lines, with the character under the cursor drawn inverse. */
function renderWithCursor({ value, cursor }: Line) {
  const out: React.ReactNode[] = [];
  let start = 0;
  for (const part of value.split("\n")) {
    const end = start + part.length;
    if (cursor >= start && cursor <= end) {
      const at = cursor - start;
      out.push(<>{part.slice(0, at)}<Text inverse>{part[at] ?? " "}</Text>{part.slice(at + 1)}</>);
    } else {
      out.push(part);
    }
    start = end + 1;
  }
  return out;
}
