import { Box, Text } from "ink";
import type { ReplState } from "../state.ts";
import { fillBar, sparkline } from "./bars.ts";

/** One line: model, threads, KV blocks in use as a bar, a tokens/s sparkline, and the :serve server's requests. */
export function StatusBar({ state }: { readonly state: ReplState }) {
  const { model, stats, rates, active, jobs, server } = state;
  const blocks = stats?.blocks;
  const rate = rates.length > 0 ? rates[rates.length - 1]! : 0;
  const busy = active.length + jobs.length;
  return (
    <Box>
      <Text inverse>
        {" "}{model ? model.name : "no model"}
        {" · "}{model ? `${model.threads} threads` : "- threads"}
        {" · KV "}{blocks ? `${fillBar(blocks.used / Math.max(1, blocks.total), 10)} ${blocks.used}/${blocks.total}` : "-"}
        {" · "}{sparkline(rates, 16) || "-"} {rate.toFixed(0)} t/s
        {" · "}{busy > 0 ? `running ${busy}` : "idle"}
        {server ? ` · :${server.url.slice(server.url.lastIndexOf(":") + 1)} ${server.active} active/${server.served} served` : ""}{" "}
      </Text>
    </Box>
  );
}
