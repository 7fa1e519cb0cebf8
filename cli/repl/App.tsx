import { Box, Static, Text, useApp, useStdout } from "ink";
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { complete } from "./commands.ts";
import { chatModeOf, chatSettingsOf, generateOptionsOf, parallelOf, thinkDisplayOf, type ThinkDisplay } from "./config.ts";
import type { EngineLink } from "./engine-client.ts";
import { CellHead, CellView, LiveLine, StreamFoot } from "./components/CellView.tsx";
import { thinkingView } from "./components/thinking-view.ts";
import { InputLine } from "./components/InputLine.tsx";
import { JobLine, LoadProgress } from "./components/LoadProgress.tsx";
import { SettingsPanel, settingsLines } from "./components/SettingsPanel.tsx";
import { StatusBar } from "./components/StatusBar.tsx";
import { TuneView } from "./components/TuneView.tsx";
import { runCommand } from "./run-command.ts";
import { runningIds, type TranscriptItem } from "./state.ts";
import type { Store } from "./store.ts";

interface Props {
  readonly store: Store;
  readonly link: EngineLink;
  readonly cwd?: string;
  /** Called once when the user quits (after the app has unmounted itself). */
  readonly onQuit?: () => void;
  /**
   * Print finished lines into the terminal's scrollback (Ink's <Static>); false shows only the last two in the live area
   * instead. Ink keeps one <Static> per process (its bookkeeping is module-wide): a second app, such as the
   * rehearsal of warm-up.ts, must not have one, or the first one's printed lines are lost.
   */
  readonly scrollback?: boolean;
}

export function App({ store, link, cwd = process.cwd(), onQuit, scrollback = true }: Props) {
  const state = useSyncExternalStore(store.subscribe, store.get);
  const { exit } = useApp();
  const { stdout, write } = useStdout();
  const ids = useRef(0);
  const [panelTop, setPanelTop] = useState(0);
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
    store.dispatch({ type: "start-cell", prompt, genIds, ...(chat ? { chat } : {}) });
    if (chat) {
      link.send({ type: "chat", ids: genIds, text: prompt, options: genIds.map((_, i) => generateOptionsOf(config, i)), chat: chatSettingsOf(config) });
      if (streams > 1) store.dispatch({ type: "notice", tone: "info", text: `${streams} answers: the conversation goes on from #1 unless you :keep K` });
    } else {
      genIds.forEach((id, i) => link.send({ type: "generate", id, prompt, options: generateOptionsOf(config, i) }));
    }
  }, [link, store]);

  useEffect(() => {
    const resize = () => store.dispatch({ type: "resize", columns: stdout.columns || 80 });
    resize();
    stdout.on("resize", resize);
    return () => void stdout.off("resize", resize);
  }, [stdout, store]);

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

  /** Ctrl+L: clears the screen (the scrollback stays); Ink then draws the live area again at the top. */
  const clearScreen = useCallback(() => write("\x1b[2J\x1b[H"), [write]);

  const rows = stdout.rows || 24;
  // The settings panel takes at most about half the screen (its border and title included) and scrolls.
  const panelLines = Math.max(3, Math.floor(rows / 2) - 3);
  const page = (direction: -1 | 1) => setPanelTop((top) => Math.max(0, Math.min(top + direction * panelLines, settingsLines(state.config, state.batching).length - panelLines)));
  const { printing, width } = state;
  const think = thinkDisplayOf(state.config);
  // Cells waiting behind the one being printed show their streams' last lines, in what the screen has left: Ink
  // redraws the whole screen (all of the scrollback) on every frame once its live area is as tall as the terminal.
  const waiting = state.active.filter((c) => c.id !== printing?.cellId);
  const waitingStreams = waiting.reduce((n, c) => n + c.streams.length, 0);
  const spare = rows - 6 - (state.showSettings ? panelLines + 3 : 0) - (printing ? 3 : 0) - state.jobs.length - (state.loading ? 1 : 0) - waiting.length * 2;
  const liveLines = Math.max(1, Math.floor(Math.min(spare, rows / 2) / Math.max(1, waitingStreams)) - 1);
  const liveStreams = Math.max(1, Math.floor(spare / 2 / Math.max(1, waiting.length)));
  const transcript = useMemo(() => state.transcript, [state.transcript]);

  return (
    <Box flexDirection="column">
      {scrollback
        ? <Static items={transcript as TranscriptItem[]}>{(item) => <TranscriptLine key={item.key} item={item} width={width} think={think} />}</Static>
        : transcript.slice(-2).map((item) => <TranscriptLine key={item.key} item={item} width={width} think={think} />)}
      {state.active.map((cell) => cell.id === printing?.cellId
        ? <LiveLine key={cell.id} stream={cell.streams[0]!} rest={printing.rest} thinking={thinkingView(cell.streams[0]!, think, width, liveLines)?.text} />
        : <CellView key={cell.id} cell={cell} liveLines={liveLines} liveStreams={liveStreams} width={width} think={think} />)}
      {state.loading && <LoadProgress load={state.loading} />}
      {state.jobs.map((job) => <JobLine key={job.id} job={job} />)}
      {state.tuning && <TuneView snapshot={state.tuning.snapshot} rows={Math.max(2, rows - 10 - state.jobs.length)} width={stdout.columns || 80} />}
      {state.showSettings && <SettingsPanel config={state.config} batching={state.batching} maxLines={panelLines} top={panelTop} />}
      <InputLine onSubmit={submit} onInterrupt={interrupt} onQuit={quit} onClearScreen={clearScreen} onPage={page}
        complete={completeLine} history={history.current} />
      <StatusBar state={state} width={stdout.columns || 80} />
    </Box>
  );
}

function TranscriptLine({ item, width, think }: { readonly item: TranscriptItem; readonly width: number; readonly think: ThinkDisplay }) {
  switch (item.kind) {
    case "cell": return <CellView cell={item.cell} width={width} think={think} />;
    case "thought": return <Text dimColor italic>{item.text}</Text>;
    case "cell-head": return <CellHead cell={item.cell} />;
    case "lines": return <Text>{item.text}</Text>;
    case "cell-foot": return <Box marginBottom={1}><StreamFoot stream={item.cell.streams[0]!} /></Box>;
    case "notice":
      return (
        <Text color={item.tone === "error" ? "red" : item.tone === "warn" ? "yellow" : undefined}>
          {item.tone === "error" ? "error: " : ""}{item.text}
        </Text>
      );
  }
}
