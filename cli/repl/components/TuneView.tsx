import { Box, Text } from "ink";
import type { TuneSnapshot } from "../../../core/tune/search.ts";
import { tuneStatusLine, tuneTable } from "../../tune-table.ts";

/**
 * A running :tune in the live area: its progress line (bar, time left, phase, best so far) and the candidates'
 * table, cut to the last rows that fit in `rows` lines and to the terminal's width (Ink redraws the whole screen
 * when the live area outgrows it).
 */
export function TuneView({ snapshot, rows, width }: { readonly snapshot: TuneSnapshot; readonly rows: number; readonly width: number }) {
  const table = tuneTable(snapshot, Math.max(1, rows - 2)).split("\n").map((l) => l.slice(0, width - 1)).join("\n");
  return (
    <Box flexDirection="column">
      <Text color="yellow">{tuneStatusLine(snapshot).slice(0, width - 1)}</Text>
      <Text dimColor>{table}</Text>
    </Box>
  );
}
