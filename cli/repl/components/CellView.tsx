import { Box, Text } from "ink";
import type { ThinkDisplay } from "../config.ts";
import { thinkingView } from "./thinking-view.ts";
import type { Cell, Stream } from "../state.ts";
import { wrapText } from "../wrap.ts";

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
    if (s["promptTokensComputed"] !== undefined && s["promptTokens"] !== undefined) {
      parts.push(`prompt ${s["promptTokens"]} tokens (${s["promptTokensCached"] ?? 0} cached, ${s["promptTokensComputed"]} computed)`);
    }
    if (s["thinkingTokens"]) {
      parts.push(`thinking ${s["thinkingTokens"]} at ${(s["thinkingTokensPerS"] ?? 0).toFixed(1)} t/s, answer ${s["answerTokens"] ?? 0} at ${(s["answerTokensPerS"] ?? 0).toFixed(1)} t/s`);
    }
  }
  parts.push(`${st.tokens} tokens`);
  if (st.status === "stopped") parts.push("stopped");
  else if (st.finishReason === "context") parts.push(`context full (${(s?.["promptTokens"] ?? 0) + (s?.["generatedTokens"] ?? 0)} positions: :set ctx-size)`);
  else if (st.finishReason) parts.push(st.finishReason);
  return parts.join(" · ");
}

/** The last `maxLines` display lines of `text` wrapped at `width` columns (a live stream must fit on the screen). */
export function tail(text: string, width: number, maxLines: number): string {
  return wrapText(text, width).slice(-maxLines).join("\n");
}

export function CellHead({ cell }: { readonly cell: Cell }) {
  return (
    <Text>
      <Text color="cyan">[{cell.id}]</Text> {cell.chat ? <Text color="cyan">you: </Text> : null}<Text bold>{cell.prompt}</Text>
    </Text>
  );
}

/** A stream's thinking as :think says, dimmed (nothing when it has none). */
function ThinkingLine({ stream, think, width, liveLines }: { readonly stream: Stream; readonly think: ThinkDisplay; readonly width: number; readonly liveLines?: number }) {
  const t = thinkingView(stream, think, width, liveLines);
  return t ? <Text dimColor italic>{t.text}</Text> : null;
}

/** What ends a stream: its error, or its stats line. */
export function StreamFoot({ stream }: { readonly stream: Stream }) {
  return stream.status === "error" ? <Text color="red">error: {stream.error}</Text> : <Text color="gray">{statsLine(stream)}</Text>;
}

/** The live part of the cell being printed as it streams: its thinking while it thinks, its unfinished last line and the token count. */
export function LiveLine({ stream, rest, thinking }: { readonly stream: Stream; readonly rest: string; readonly thinking?: string | undefined }) {
  return (
    <Box flexDirection="column" marginBottom={1}>
      {thinking !== undefined && stream.text === "" && <Text dimColor italic>{thinking}</Text>}
      <Text>{rest}<Text color="gray">▍</Text></Text>
      <Text color="gray">{stream.tokens} tokens…</Text>
    </Box>
  );
}

interface Props {
  readonly cell: Cell;
  /** While streaming: the most lines each stream may take, so the live area fits the terminal. */
  readonly liveLines?: number;
  /** While streaming: the most streams shown (the rest are counted). */
  readonly liveStreams?: number;
  /** Columns the text wraps to. */
  readonly width?: number;
  /** How a chat turn's thinking shows (:think). */
  readonly think?: ThinkDisplay;
}

/** A whole cell: a finished one printed at once, or a running one that waits for an earlier cell (its last lines). */
export function CellView({ cell, liveLines, liveStreams, width = 79, think = "fold" }: Props) {
  if (liveLines !== undefined) return <LiveCell cell={cell} lines={liveLines} streams={liveStreams ?? cell.streams.length} width={width} />;
  const many = cell.streams.length > 1;
  return (
    <Box flexDirection="column" marginBottom={1}>
      <CellHead cell={cell} />
      {cell.streams.map((st, i) => (
        <Box key={i} flexDirection="column">
          {many && <Text color="magenta">#{i + 1}</Text>}
          <ThinkingLine stream={st} think={think} width={width} />
          {st.status !== "error" && <Text>{wrapText(st.text, width).join("\n")}</Text>}
          <StreamFoot stream={st} />
        </Box>
      ))}
    </Box>
  );
}

/** A cell still in the live area: per stream a status line and its last `lines` lines, for the first `streams` streams. */
function LiveCell({ cell, lines, streams, width }: { readonly cell: Cell; readonly lines: number; readonly streams: number; readonly width: number }) {
  const many = cell.streams.length > 1;
  const hidden = cell.streams.length - streams;
  return (
    <Box flexDirection="column" marginBottom={1}>
      <CellHead cell={cell} />
      {cell.streams.slice(0, streams).map((st, i) => (
        <Box key={i} flexDirection="column">
          <Text color="gray" wrap="truncate-end">
            {many ? <Text color="magenta">#{i + 1} </Text> : null}
            {st.status === "running" ? `${st.tokens} tokens…` : st.status === "error" ? `error: ${st.error}` : statsLine(st)}
          </Text>
          {st.status !== "error" && <Text>{tail(st.text, width, lines)}{st.status === "running" ? <Text color="gray">▍</Text> : null}</Text>}
        </Box>
      ))}
      {hidden > 0 && <Text color="gray">… {hidden} more stream{hidden === 1 ? "" : "s"}</Text>}
    </Box>
  );
}
