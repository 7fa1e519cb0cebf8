import type { ThinkDisplay } from "../config.ts";
import type { Stream } from "../state.ts";
import { wrapText } from "../wrap.ts";

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
      : { text: liveLines !== undefined ? wrapText(thinking, width).slice(-Math.max(1, Math.floor(liveLines / 2))).join("\n") : wrapText(thinking, width).slice(-3).join("\n"), live: true };
  }
  if (think === "show") return { text: wrapText(thinking.trim(), width).join("\n"), live: false };
  if (think === "hide") return null;
  const n = st.stats?.["thinkingTokens"];
  const head = `▸ thought${n !== undefined ? ` ${n} tokens` : ""}: `;
  const flat = thinking.replace(/\s+/g, " ").trim();
  const room = Math.max(10, width - head.length - 2);
  return { text: head + (flat.length > room ? flat.slice(0, room - 1) + "…" : flat), live: false };
}

