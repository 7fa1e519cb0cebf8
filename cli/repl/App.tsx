import { Box, Static, Text, useApp, useStdout } from "ink";
import { useCallback, useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import { complete } from "./commands.ts";
import { chatModeOf, chatSettingsOf, generateOptionsOf, parallelOf, thinkDisplayOf } from "./config.ts";
import type { EngineLink } from "./engine-client.ts";
import { CellView } from "./components/CellView.tsx";
import { InputLine } from "./components/InputLine.tsx";
import { JobLine, LoadProgress } from "./components/LoadProgress.tsx";
import { SettingsPanel } from "./components/SettingsPanel.tsx";
import { StatusBar } from "./components/StatusBar.tsx";
import { runCommand } from "./run-command.ts";
import { runningIds, type TranscriptItem } from "./state.ts";
import type { Store } from "./store.ts";

interface Props {
  readonly store: Store;
  readonly link: EngineLink;
  readonly cwd?: string;
  /** Called once when the user quits (after the app has unmounted itself). */
  readonly onQuit?: () => void;
}

/** Rows the fixed parts of the live area take (input, status bar, margins). */
const CHROME_ROWS = 6;

export function App({ store, link, cwd = process.cwd(), onQuit }: Props) {
  const state = useSyncExternalStore(store.subscribe, store.get);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const ids = useRef(0);
  const history = useRef<string[]>([]);

  useEffect(() => link.subscribe((event) => store.dispatch({ type: "engine", event })), [link, store]);

  const quit = useCallback(() => {
    for (const id of runningIds(store.get())) link.send({ type: "cancel", id });
    exit();
    onQuit?.();
  }, [exit, link, onQuit, store]);

  const runPrompt = useCallback((prompt: string, streams: number) => {
    const { config, model } = store.get();
    // Chat mode: the cell is a user turn of the conversation; :parallel N gives N answers to choose from (:keep).
    const chat = chatModeOf(config, model?.chatTemplate ?? false);
    const genIds = Array.from({ length: streams }, () => ++ids.current);
    store.dispatch({
      type: "start-cell",
      cell: { id: ++ids.current, prompt, ...(chat ? { chat } : {}), streams: genIds.map((genId) => ({ genId, text: "", tokens: 0, status: "running" })) },
    });
    if (chat) {
      link.send({ type: "chat", ids: genIds, text: prompt, options: genIds.map((_, i) => generateOptionsOf(config, i)), chat: chatSettingsOf(config) });
      if (streams > 1) store.dispatch({ type: "notice", tone: "info", text: `${streams} answers: the conversation goes on from #1 unless you :keep K` });
    } else {
      genIds.forEach((id, i) => link.send({ type: "generate", id, prompt, options: generateOptionsOf(config, i) }));
    }
  }, [link, store]);

  const submit = useCallback((text: string) => {
    if (text.trim() === "") return;
    if (history.current.at(-1) !== text) history.current.push(text);
    if (text.startsWith(":")) {
      runCommand(text, { store, link, nextId: () => ++ids.current, runPrompt, quit, cwd });
    } else {
      runPrompt(text, parallelOf(store.get().config));
    }
  }, [cwd, link, quit, runPrompt, store]);

  /** Ctrl+C: stops every running generation and job; says whether there was one. */
  const interrupt = useCallback((): boolean => {
    const s = store.get();
    const targets = [...runningIds(s), ...s.jobs.map((j) => j.id)];
    for (const id of targets) link.send({ type: "cancel", id });
    return targets.length > 0;
  }, [link, store]);

  const completeLine = useCallback((line: string) => complete(line, cwd), [cwd]);

  const rows = stdout.rows || 24, width = stdout.columns || 80;
  const liveStreams = state.active.reduce((n, c) => n + c.streams.length, 0);
  const liveLines = Math.max(2, Math.floor((rows - CHROME_ROWS - state.active.length * 2 - liveStreams * 2) / Math.max(1, liveStreams)));
  const transcript = useMemo(() => state.transcript, [state.transcript]);

  return (
    <Box flexDirection="column">
      <Static items={transcript as TranscriptItem[]}>
        {(item) => item.kind === "cell"
          ? <CellView key={item.key} cell={item.cell} width={width} think={thinkDisplayOf(state.config)} />
          : <Text key={item.key} color={item.tone === "error" ? "red" : item.tone === "warn" ? "yellow" : undefined}>
              {item.tone === "error" ? "error: " : ""}{item.text}
            </Text>}
      </Static>
      {state.active.map((cell) => <CellView key={cell.id} cell={cell} liveLines={liveLines} width={width} think={thinkDisplayOf(state.config)} />)}
      {state.loading && <LoadProgress load={state.loading} />}
      {state.jobs.map((job) => <JobLine key={job.id} job={job} />)}
      {state.showSettings && <SettingsPanel config={state.config} batching={state.batching} />}
      <InputLine onSubmit={submit} onInterrupt={interrupt} onQuit={quit} complete={completeLine} history={history.current} />
      <StatusBar state={state} />
    </Box>
  );
}
