export { noShared, repoRoot, sharedDir, sharedModel } from "./paths.ts";
export { prng } from "./synthetic-model.ts";
