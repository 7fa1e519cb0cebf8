import { Text } from "ink";
import type { Job, LoadState } from "../state.ts";
import { fillBar, mib } from "./bars.ts";

/** The progress bar while a model downloads or loads. */
export function LoadProgress({ load }: { readonly load: LoadState }) {
  if (load.phase === "load") return <Text color="yellow">loading {load.model || "the default model"}…</Text>;
  if (load.received === 0 && load.total === null) return <Text color="yellow">finding {load.model || "the default model"}…</Text>;
  const pct = load.total ? load.received / load.total : 0;
  return (
    <Text color="yellow">
      downloading {load.model || "the default model"} {fillBar(pct, 24)} {load.total ? `${(pct * 100).toFixed(0)}% ` : ""}
      {mib(load.received)}{load.total ? ` / ${mib(load.total)}` : ""} MiB
    </Text>
  );
}

export function JobLine({ job }: { readonly job: Job }) {
  const p = job.progress;
  return (
    <Text color="yellow">
      {job.label}{p ? ` ${fillBar(p.done / p.total, 20)} ${p.done}/${p.total}` : "…"} (Ctrl+C stops)
    </Text>
  );
}
