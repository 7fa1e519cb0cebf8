/** Small text graphics for the status bar and progress lines. */

const SPARK = "▁▂▃▄▅▆▇█";

/** A sparkline of recent values scaled to their maximum (all-zero history draws the lowest bar). */
export function sparkline(values: readonly number[], width: number): string {
  const shown = values.slice(-width);
  const max = Math.max(...shown, 0);
  return shown.map((v) => SPARK[max > 0 ? Math.min(SPARK.length - 1, Math.round((v / max) * (SPARK.length - 1))) : 0]).join("");
}

/** A fill bar such as ████░░░░ for a fraction in [0, 1]. */
export function fillBar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return "█".repeat(full) + "░".repeat(width - full);
}

export function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
