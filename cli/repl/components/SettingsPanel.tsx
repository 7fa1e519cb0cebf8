import { Box, Text } from "ink";
import { SETTINGS, formatSetting, type ReplConfig } from "../config.ts";
import type { BatchingOptions } from "../../../core/scheduler/scheduler.ts";

const LIVE_BATCHING: [string, keyof BatchingOptions][] = [["max-seqs", "maxSeqs"], ["max-batch-tokens", "maxBatchTokens"], ["max-wait-ms", "maxWaitMs"]];

/** The live configuration, grouped; batching shows what the engine actually runs with once a model is loaded. */
export function SettingsPanel({ config, batching }: { readonly config: ReplConfig; readonly batching: BatchingOptions | null }) {
  const groups = new Map<string, string[]>();
  for (const def of SETTINGS.values()) {
    const live = batching && LIVE_BATCHING.find(([k]) => k === def.key);
    const value = live ? String(batching[live[1]]) + (config[def.key] === undefined ? " (default)" : "") : formatSetting(config, def.key);
    const lines = groups.get(def.group) ?? [];
    lines.push(`${def.key.padEnd(18)} ${value}`);
    groups.set(def.group, lines);
  }
  return (
    <Box flexDirection="column" borderStyle="round" borderColor="blue" paddingX={1}>
      <Text bold color="blue">settings (:set KEY VALUE, :show hides)</Text>
      {[...groups].map(([group, lines]) => (
        <Box key={group} flexDirection="column">
          <Text color="blue">{group}</Text>
          {lines.map((l) => <Text key={l}>  {l}</Text>)}
        </Box>
      ))}
    </Box>
  );
}
