import { Box, Text } from "ink";
import { chatModeOf, thinkDisplayOf } from "../config.ts";
import type { ReplState } from "../state.ts";
import { textWidth } from "../wrap.ts";
import { fillBar, sparkline } from "./bars.ts";

/** "chat 3 turns · think fold" or "completion": what a cell is. */
function modeOf(state: ReplState): string {
  const model = state.model;
  if (!chatModeOf(state.config, model?.chatTemplate ?? false)) return "completion";
  const n = state.conversation?.messages.filter((m) => m.role === "user").length ?? 0;
  return `chat${n === 0 ? "" : ` ${n} turn${n === 1 ? "" : "s"}`}${model?.thinkingSwitch ? ` · think ${thinkDisplayOf(state.config)}` : ""}`;
}

/**
 * One line, whatever the width: model, chat or completion mode, threads, KV blocks in use as a bar, a tokens/s sparkline, what is running.
 * On a narrow terminal the graphics shrink first, then the model name is shortened.
 */
export function StatusBar({ state, width }: { readonly state: ReplState; readonly width: number }) {
  return (
    <Box>
      <Text inverse wrap="truncate-end">{statusText(state, width)}</Text>
    </Box>
  );
}

export function statusText(state: ReplState, width: number): string {
  const { model, stats, rates, active, jobs } = state;
  const blocks = stats?.blocks;
  const rate = rates.length > 0 ? rates[rates.length - 1]! : 0;
  const busy = active.length + jobs.length;
  const line = (name: string, bar: number, spark: number) => [
    model ? name : "no model",
    modeOf(state),
    model ? `${model.threads} threads` : "- threads",
    `KV ${blocks ? `${fillBar(blocks.used / Math.max(1, blocks.total), bar)} ${blocks.used}/${blocks.total}` : "-"}`,
    `${sparkline(rates, spark) || "-"} ${rate.toFixed(0)} t/s`,
    busy > 0 ? `running ${busy}` : "idle",
  ].join(" · ");
  const fits = (text: string) => textWidth(text) + 2 <= width;
  const name = model?.name ?? "";
  for (const [bar, spark] of [[10, 16], [6, 8], [4, 4]] as const) {
    const text = line(name, bar, spark);
    if (fits(text)) return ` ${text} `;
  }
  // Shorten the model name to what is left (at least a few characters), then cut whatever still overflows.
  const room = width - 2 - textWidth(line("", 4, 4));
  const short = name.length > Math.max(room, 6) ? name.slice(0, Math.max(room, 6) - 1) + "…" : name;
  return ` ${line(short, 4, 4)} `.slice(0, Math.max(1, width - 1));
}
