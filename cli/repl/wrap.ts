/**
 * Word wrapping of generated text for the terminal, done by the REPL itself rather than left to Ink: a streamed
 * cell sends each line to the scrollback as soon as it is complete, so the wrapping must be incremental (appending
 * text never changes a line already complete), and a cell shown whole wraps the same way, so text does not move
 * when a cell finishes. Lines break at spaces; a word longer than the line is cut.
 */

/** Columns a character takes: 0 for combining marks, 2 for East Asian wide characters and emoji, else 1. */
export function charWidth(ch: string): number {
  const c = ch.codePointAt(0)!;
  if (c < 0x300) return c < 0x20 || c === 0x7f ? 0 : 1;
  if (/^\p{M}$/u.test(ch) || c === 0x200b || c === 0x200d || (c >= 0xfe00 && c <= 0xfe0f)) return 0;
  return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf && c !== 0x303f) || (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x1f300 && c <= 0x1faff) || (c >= 0x20000 && c <= 0x3fffd) ? 2 : 1;
}

export function textWidth(text: string): number {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(text)) return text.length;
  let w = 0;
  for (const ch of text) w += charWidth(ch);
  return w;
}

/** The end index of the longest prefix of `text` that fits in `width` columns (at least one character). */
function fitIndex(text: string, width: number): number {
  let w = 0, i = 0;
  for (const ch of text) {
    w += charWidth(ch);
    if (w > width && i > 0) return i;
    i += ch.length;
  }
  return i;
}

/**
 * Appends `text` to `rest` (the unfinished last line) and splits off the lines that are now complete: every line
 * ended by a newline, and, while the unfinished line is wider than `width`, its first `width` columns broken at
 * the last space (text appended later cannot change where that break falls).
 */
export function wrapMore(rest: string, text: string, width: number): { lines: string[]; rest: string } {
  const lines: string[] = [];
  const paragraphs = (rest + text).split("\n");
  for (let p = 0; p < paragraphs.length; p++) {
    let line = paragraphs[p]!;
    const last = p === paragraphs.length - 1;
    while (textWidth(line) > width) {
      const fit = fitIndex(line, width);
      // Break after the last space that keeps the line within width (the space at the break is dropped).
      const space = line.charAt(fit) === " " ? fit : line.lastIndexOf(" ", fit - 1);
      if (space > 0) {
        lines.push(line.slice(0, space));
        line = line.slice(space + 1);
      } else {
        lines.push(line.slice(0, fit));
        line = line.slice(fit);
      }
    }
    if (!last) lines.push(line);
    else return { lines, rest: line };
  }
  return { lines, rest: "" };
}

/** All of `text` as display lines of at most `width` columns. */
export function wrapText(text: string, width: number): string[] {
  const { lines, rest } = wrapMore("", text, width);
  return [...lines, rest];
}
