import { Box, Text } from "ink";
import { SETTINGS, formatSetting, type ReplConfig } from "../config.ts";
import type { BatchingOptions } from "../../../core/scheduler/scheduler.ts";

const LIVE_BATCHING: [string, keyof BatchingOptions][] = [
  ["max-seqs", "maxSeqs"], ["max-batch-tokens", "maxBatchTokens"], ["max-wait-ms", "maxWaitMs"], ["prefix-cache", "prefixCaching"],
];

/** The panel's lines: a heading per group, then its settings. */
export function settingsLines(config: ReplConfig, batching: BatchingOptions | null): { text: string; heading: boolean }[] {
  const groups = new Map<string, string[]>();
  for (const def of SETTINGS.values()) {
    const live = batching && LIVE_BATCHING.find(([k]) => k === def.key);
    const value = live ? liveValue(batching[live[1]]) + (config[def.key] === undefined ? " (default)" : "") : formatSetting(config, def.key);
    const lines = groups.get(def.group) ?? [];
    lines.push(`  ${def.key.padEnd(18)} ${value}`);
    groups.set(def.group, lines);
  }
  return [...groups].flatMap(([group, lines]) => [{ text: group, heading: true }, ...lines.map((text) => ({ text, heading: false }))]);
}

interface Props {
  readonly config: ReplConfig;
  readonly batching: BatchingOptions | null;
  /** Most lines of settings shown at once (the panel scrolls through the rest); all of them when absent. */
  readonly maxLines?: number;
  /** First line shown (clamped to the last full page). */
  readonly top?: number;
}

/**
 * The live configuration, grouped; batching shows what the engine actually runs with once a model is loaded. On a
 * short terminal it shows `maxLines` at a time and says which, so it never pushes the notebook off the screen.
 */
export function SettingsPanel({ config, batching, maxLines, top = 0 }: Props) {
  const lines = settingsLines(config, batching);
  const shown = Math.min(lines.length, Math.max(1, maxLines ?? lines.length));
  const first = Math.max(0, Math.min(top, lines.length - shown));
  const scrolls = shown < lines.length;
  return (
    <Box flexDirection="column" borderStyle="round" borderColor="blue" paddingX={1}>
      <Text bold color="blue" wrap="truncate-end">
        settings{scrolls ? ` ${first + 1}-${first + shown} of ${lines.length} (PgUp/PgDn)` : ""} (:set KEY VALUE, :show hides)
      </Text>
      {lines.slice(first, first + shown).map((l) => (
        <Text key={l.text} color={l.heading ? "blue" : undefined} wrap="truncate-end">{l.text}</Text>
      ))}
    </Box>
  );
}

function liveValue(v: number | boolean): string {
  return typeof v === "boolean" ? (v ? "on" : "off") : String(v);
}
