import type { CandidateRow, TuneResult, TuneSnapshot } from "../core/tune/search.ts";
import { latencyOf } from "../core/tune/search.ts";
import { figuresText } from "../core/tune/recipe.ts";
import { fillBar } from "./repl/components/bars.ts";

/** The progress line of a tune: bar, percent, time left, what it is doing, the best so far. */
export function tuneStatusLine(s: TuneSnapshot): string {
  const best = s.best.figures ? ` · best: ${s.best.label} ${s.best.figures.tokensPerS.toFixed(1)} t/s` : "";
  return `${fillBar(s.progress, 24)} ${Math.round(s.progress * 100)}% · ${Math.ceil(s.leftMs / 1000)} s left · ${s.phase}${best}`;
}

/** The candidates as a text table (the base first, then in the order they were tried); `limit` keeps the last rows. */
export function tuneTable(s: TuneSnapshot, limit = Infinity): string {
  // The ratio to the incumbent decides; absolute figures drift with the machine's load. Narrow terminals cut the
  // rightmost columns, so the ones that matter most come first.
  const header = ["", "configuration", "status", "ratio", "tok/s", "p99 ms", "TTFT ms", "ms/tok", "n", "note"];
  const rows = s.rows.length <= limit ? s.rows : limit <= 1 ? s.rows.slice(0, 1) : [s.rows[0]!, ...s.rows.slice(-(limit - 1))];
  const cells = rows.map((r) => row(r, s));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i >= 3 && i <= 8 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), ...cells.map(line)].join("\n");
}

function row(r: CandidateRow, s: TuneSnapshot): string[] {
  const f = r.figures;
  const mark = r.key === s.best.key ? "*" : "";
  const ppl = r.quality ? `ppl ${r.quality.rise >= 0 ? "+" : ""}${(r.quality.rise * 100).toFixed(2)}%` : "";
  const note = [ppl, r.note ?? ""].filter(Boolean).join("; ");
  return [mark, r.label, r.status, r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : "", f ? f.tokensPerS.toFixed(1) : "", f ? f.p99Ms.toFixed(1) : "",
    f ? f.ttftMs.toFixed(1) : "", f ? f.msPerToken.toFixed(2) : "", String(r.samples.length), note.length > 60 ? note.slice(0, 59) + "…" : note];
}

/** The end of a tune: the chosen point against the defaults, and the Pareto front. */
export function tuneSummary(r: TuneResult): string {
  const lines = [`${r.stopped ? "stopped" : "done"} in ${(r.elapsedMs / 1000).toFixed(1)} s: best ${r.best.label}${r.best.figures ? ` (${figuresText(r.best.figures)})` : ""}`];
  if (r.confirm) {
    lines.push(`side by side over ${r.confirm.rounds} alternating rounds: candidate/defaults ${r.confirm.ratio.toFixed(2)}x${r.confirm.kept ? "" : " (not 2% faster: the defaults are kept)"}`);
    lines.push(`  candidate: ${figuresText(r.confirm.best)}`, `  defaults:  ${figuresText(r.confirm.base)}`);
  }
  const bound = r.settings.p99BoundMs;
  if (bound !== undefined && r.best.figures && r.best.figures.p99Ms > bound) lines.push(`no configuration measured met the p99 bound of ${bound} ms: the starting one is kept`);
  const axis = r.settings.target === "latency" ? "TTFT" : "p99";
  lines.push(`Pareto front (tok/s vs ${axis}): ${r.pareto.map((x) => `${x.label} ${x.figures!.tokensPerS.toFixed(1)} t/s ${latencyOf(x.figures!, r.settings.target).toFixed(1)} ms`).join(" | ") || "none"}`);
  return lines.join("\n");
}
