// Early exit: leave the 6-layer model at layer 3 or 4 when the top token is already sure enough, skipping the
// remaining layers for that token (the text may differ from the full model's where it exits).
import { defineRecipe } from "infer-repl";

export default defineRecipe(import.meta, {
  model: "stories15M",
  earlyExit: [{ layer: 3, threshold: 0.95 }, { layer: 4, threshold: 0.9 }],
  sampling: { temperature: 0 },
  maxTokens: 128,
});
