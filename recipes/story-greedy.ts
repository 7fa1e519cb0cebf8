// Greedy decoding (temperature 0): the same story every run, the one llama.cpp's greedy reference gives.
import { defineRecipe } from "infer-repl";

export default defineRecipe(import.meta, {
  model: "stories15M",
  sampling: { temperature: 0 },
  maxTokens: 64,
});
