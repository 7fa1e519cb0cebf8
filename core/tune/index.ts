export { tune, paretoFront, latencyOf, score, requestOf, type TuneOptions, type TuneResult, type TuneSnapshot, type TuneSettings, type CandidateRow, type RowStatus } from "./search.ts";
export { defaultSpace, describePoint, exitLabel, changesOutput, pointKey, KNOBS, type TunePoint, type TuneTarget, type SearchSpace, type Knob } from "./space.ts";
export { QualityGuard, type QualityVerdict } from "./quality.ts";
export { runWorkload, type WorkloadFigures } from "./measure.ts";
