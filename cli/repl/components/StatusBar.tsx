import { Box, Text } from "ink";
import { chatModeOf, thinkDisplayOf } from "../config.ts";
import type { ReplState } from "../state.ts";
import { fillBar, sparkline } from "./bars.ts";

/** " 3 turns" when a conversation is going on. */
function turnsOf(state: ReplState): string {
  const n = state.conversation?.messages.filter((m) => m.role === "user").length ?? 0;
  return n === 0 ? "" : ` ${n} turn${n === 1 ? "" : "s"}`;
}

/** One line: model, chat or completion mode, threads, KV blocks in use as a bar, and a tokens/s sparkline. */
export function StatusBar({ state }: { readonly state: ReplState }) {
  const { model, stats, rates, active, jobs } = state;
  const blocks = stats?.blocks;
  const rate = rates.length > 0 ? rates[rates.length - 1]! : 0;
  const busy = active.length + jobs.length;
  return (
    <Box>
      <Text inverse>
        {" "}{model ? model.name : "no model"}
        {" · "}{chatModeOf(state.config, model?.chatTemplate ?? false)
          ? `chat${turnsOf(state)}${model?.thinkingSwitch ? ` · think ${thinkDisplayOf(state.config)}` : ""}`
          : "completion"}
        {" · "}{model ? `${model.threads} threads` : "- threads"}
        {" · KV "}{blocks ? `${fillBar(blocks.used / Math.max(1, blocks.total), 10)} ${blocks.used}/${blocks.total}` : "-"}
        {" · "}{sparkline(rates, 16) || "-"} {rate.toFixed(0)} t/s
        {" · "}{busy > 0 ? `running ${busy}` : "idle"}{" "}
      </Text>
    </Box>
  );
}
