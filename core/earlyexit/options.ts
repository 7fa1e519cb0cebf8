/** Exit after `layer` layers when the top token's probability reaches `threshold`. */
export interface ExitPoint {
  layer: number;
  threshold: number;
}

/** Checks exit points against the model's depth and sorts them by layer. */
export function resolveEarlyExit(points: readonly ExitPoint[], nLayer: number): ExitPoint[] {
  if (!Array.isArray(points) || points.length === 0) throw new RangeError("earlyExit must be a non-empty array of { layer, threshold }");
  const sorted = points.map((p) => {
    if (!Number.isInteger(p?.layer) || p.layer < 1 || p.layer >= nLayer) {
      throw new RangeError(`earlyExit layer must be an integer from 1 to ${nLayer - 1}, got ${p?.layer}`);
    }
    if (!(typeof p.threshold === "number" && p.threshold > 0 && p.threshold <= 1)) {
      throw new RangeError(`earlyExit threshold must be a number in (0, 1], got ${p.threshold}`);
    }
    return { layer: p.layer, threshold: p.threshold };
  }).sort((a, b) => a.layer - b.layer);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.layer === sorted[i - 1]!.layer) throw new RangeError(`earlyExit names layer ${sorted[i]!.layer} twice`);
  }
  return sorted;
}

/** Parses the CLI's `--early-exit "L:T,L:T"`. */
export function parseEarlyExit(text: string): ExitPoint[] {
  return text.split(",").map((part) => {
    const m = /^\s*(\d+)\s*:\s*([0-9.]+)\s*$/.exec(part);
    if (!m) throw new RangeError(`expected LAYER:THRESHOLD pairs like "3:0.9,4:0.95", got '${text}'`);
    return { layer: Number(m[1]), threshold: Number(m[2]) };
  });
}
