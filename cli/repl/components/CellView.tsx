import { Box, Text } from "ink";
import type { Cell, Stream } from "../state.ts";

/** Stats line of a finished stream: TTFT, tokens/s, and speculative / early-exit figures when the engine gives them. */
export function statsLine(st: Stream): string {
  const s = st.stats;
  const parts: string[] = [];
  if (s) {
    if (s["ttftMs"] !== undefined) parts.push(`ttft ${s["ttftMs"].toFixed(0)} ms`);
    if (s["decodeTokensPerS"] !== undefined) parts.push(`${s["decodeTokensPerS"].toFixed(1)} tokens/s`);
    if (s["prefillTokensPerS"] !== undefined) parts.push(`prefill ${s["prefillTokensPerS"].toFixed(0)} t/s`);
    if (s["specAcceptRate"] !== undefined) parts.push(`draft acceptance ${(s["specAcceptRate"] * 100).toFixed(0)}%`);
    if (s["earlyExitMeanLayers"] !== undefined) parts.push(`exit layer ${s["earlyExitMeanLayers"].toFixed(1)}`);
  }
  parts.push(`${st.tokens} tokens`);
  if (st.status === "stopped") parts.push("stopped");
  else if (st.finishReason) parts.push(st.finishReason);
  return parts.join(" · ");
}

/** The last `maxLines` display lines of `text` at `width` columns (a live stream must fit on the screen). */
export function tail(text: string, width: number, maxLines: number): string {
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    if (line.length === 0) lines.push("");
    for (let i = 0; i < line.length; i += width) lines.push(line.slice(i, i + width));
  }
  return lines.slice(-maxLines).join("\n");
}

interface Props {
  readonly cell: Cell;
  /** While streaming: the most lines each stream may take, so the live area fits the terminal. */
  readonly liveLines?: number;
  readonly width?: number;
}

export function CellView({ cell, liveLines, width = 80 }: Props) {
  const many = cell.streams.length > 1;
  return (
    <Box flexDirection="column" marginBottom={1}>
      <Text>
        <Text color="cyan">[{cell.id}]</Text> <Text bold>{cell.prompt}</Text>
      </Text>
      {cell.streams.map((st, i) => (
        <Box key={i} flexDirection="column">
          {many && <Text color="magenta">#{i + 1}</Text>}
          {st.status === "error"
            ? <Text color="red">error: {st.error}</Text>
            : <Text>{liveLines !== undefined ? tail(st.text, Math.max(10, width - 2), liveLines) : st.text}{st.status === "running" ? <Text color="gray">▍</Text> : null}</Text>}
          {st.status === "running"
            ? <Text color="gray">{st.tokens} tokens…</Text>
            : st.status !== "error" && <Text color="gray">{statsLine(st)}</Text>}
        </Box>
      ))}
    </Box>
  );
}
