// Exactness of full real-shape files against llama.cpp (node-llama-cpp, flash attention on): per file, the largest
// logit error of a 66-token one-batch evaluation and of 64 greedy generation steps after a 70-token prompt
// (relative to the row's largest logit; issue 14's bound is 1e-5 for F16/BF16, 1e-4 for quantized files), and whether all 64 greedy tokens are
// the ones llama.cpp picks. CI checks the same on 2-layer files (test/core/model/real-shape-parity.test.ts).
//   usage: npx tsx scripts/real-shape-parity.ts [--layers N] [shape ...] [format ...]   (default: every shape and format)
import { parseArgs } from "node:util";
import { parityBound, realShapeParity } from "../test/helpers/real-shape-parity.ts";
import { REAL_SHAPE_FORMATS, REAL_SHAPE_IDS, REAL_SHAPES, realShapeModel, type RealShapeFormat, type RealShapeId } from "./real-shapes.ts";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { layers: { type: "string" } } });
const ids = positionals.filter((p): p is RealShapeId => p in REAL_SHAPES);
const formats = positionals.filter((p) => !(p in REAL_SHAPES)).map((p) => p.toUpperCase() as RealShapeFormat);
const layers = values.layers === undefined ? undefined : Number(values.layers);
let failed = 0;
console.log("| file | one batch of 66 | 64 greedy steps after a 70-token prompt | greedy tokens | bound |\n|---|---|---|---|---|");
for (const id of ids.length ? ids : REAL_SHAPE_IDS) {
  for (const format of formats.length ? formats : REAL_SHAPE_FORMATS) {
    const file = realShapeModel(id, format, { layers });
    const r = await realShapeParity(file);
    const bound = parityBound(format);
    const ok = r.batchWorst <= bound && r.stepWorst <= bound && r.greedyMismatch < 0;
    if (!ok) failed++;
    const greedy = r.greedyMismatch < 0 ? "64/64 equal" : `differs at ${r.greedyMismatch}`;
    console.log(`| ${REAL_SHAPES[id].name}${layers ? ` (${layers} layers)` : ""} ${format} | ${r.batchWorst.toExponential(1)} | ${r.stepWorst.toExponential(1)} | ${greedy} | ${bound} |`);
  }
}
process.exit(failed ? 1 : 0);
