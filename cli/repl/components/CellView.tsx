import { Box, Text } from "ink";
import type { ThinkDisplay } from "../config.ts";
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
    if (s["promptTokensComputed"] !== undefined && s["promptTokens"] !== undefined) {
      parts.push(`prompt ${s["promptTokens"]} tokens (${s["promptTokensCached"] ?? 0} cached, ${s["promptTokensComputed"]} computed)`);
    }
    if (s["thinkingTokens"]) {
      parts.push(`thinking ${s["thinkingTokens"]} at ${(s["thinkingTokensPerS"] ?? 0).toFixed(1)} t/s, answer ${s["answerTokens"] ?? 0} at ${(s["answerTokensPerS"] ?? 0).toFixed(1)} t/s`);
    }
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

/**
 * A chat turn's thinking: dimmed while it streams; when done, whole (show), one line (fold) or nothing (hide).
 * Hidden thinking still shows that it is going on, so a long think does not look like a hang.
 */
export function thinkingView(st: Stream, think: ThinkDisplay, width: number, liveLines?: number): { text: string; live: boolean } | null {
  const thinking = st.thinking ?? "";
  if (thinking === "") return null;
  const running = st.status === "running" && st.text === "";
  if (running) {
    return think === "hide"
      ? { text: "thinking…", live: true }
      : { text: liveLines !== undefined ? tail(thinking, Math.max(10, width - 2), Math.max(1, Math.floor(liveLines / 2))) : thinking, live: true };
  }
  if (think === "show") return { text: thinking, live: false };
  if (think === "hide") return null;
  const n = st.stats?.["thinkingTokens"];
  const head = `▸ thought${n !== undefined ? ` ${n} tokens` : ""}: `;
  const flat = thinking.replace(/\s+/g, " ").trim();
  const room = Math.max(10, width - head.length - 2);
  return { text: head + (flat.length > room ? flat.slice(0, room - 1) + "…" : flat), live: false };
}

interface Props {
  readonly cell: Cell;
  /** While streaming: the most lines each stream may take, so the live area fits the terminal. */
  readonly liveLines?: number;
  readonly width?: number;
  /** How a chat turn's thinking shows (:think). */
  readonly think?: ThinkDisplay;
}

export function CellView({ cell, liveLines, width = 80, think = "fold" }: Props) {
  const many = cell.streams.length > 1;
  return (
    <Box flexDirection="column" marginBottom={1}>
      <Text>
        <Text color="cyan">[{cell.id}]</Text> {cell.chat ? <Text color="cyan">you: </Text> : null}<Text bold>{cell.prompt}</Text>
      </Text>
      {cell.streams.map((st, i) => (
        <Box key={i} flexDirection="column">
          {many && <Text color="magenta">#{i + 1}</Text>}
          {(() => {
            const t = thinkingView(st, think, width, liveLines);
            return t && <Text dimColor italic>{t.text}</Text>;
          })()}
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
