// Speculative decoding with a quantized draft of the same model: the Q4_0 draft proposes up to 4 tokens, the F32
// target checks them in one step. Greedy, so the text is story-greedy.ts's, token for token.
import { defineRecipe } from "infer-repl";

export default defineRecipe(import.meta, {
  model: "stories15M",
  speculative: { mode: "draft", draft: "../../shared/models/stories15M-q4_0.gguf", k: 4 },
  sampling: { temperature: 0 },
  maxTokens: 64,
});
