// Creative sampling (temperature, top-k/top-p, a mild repeat penalty) made repeatable by a fixed seed.
import { defineRecipe } from "infer-repl";

export default defineRecipe(import.meta, {
  model: "stories15M",
  sampling: { temperature: 0.9, topK: 40, topP: 0.92, minP: 0.05, repeatPenalty: 1.1, repeatLastN: 64, seed: 1234 },
  maxTokens: 96,
  stop: ["The end."],
});
