// The public API of infer-repl: `import { Engine } from "infer-repl"`.
export { Engine, DEFAULT_BATCHING, type EngineOptions, type EngineStats, type GenerationStream, type StepInfo } from "./engine.ts";
export type { GenerateOptions, GenerationResult, GenerationStats, TokenEvent } from "./generation.ts";
export type { TokenLogprob } from "./sampling/logprobs.ts";
export type { BatchingOptions } from "./scheduler/scheduler.ts";
export type { Arithmetic, KvType } from "./model/model.ts";
export type { FinishReason } from "./scheduler/sequence.ts";
export { DEFAULT_SAMPLING, SamplingError, type SamplingOptions } from "./sampling/index.ts";
export { Grammar, type GrammarOptions } from "./sampling/grammar/grammar.ts";
export { GrammarError, SchemaError } from "./sampling/grammar/errors.ts";
export { jsonSchemaToGbnf } from "./sampling/grammar/json-schema.ts";
export { perplexity, type PerplexityOptions, type PerplexityResult } from "./perplexity.ts";
export { runBenchmark, type BenchmarkOptions, type BenchmarkResult } from "./benchmark.ts";
export { resolveModel, pullModel, ModelNotFoundError, type ResolvedModel } from "./models/resolve.ts";
export { GgufError, readGguf } from "./gguf/index.ts";
export {
  defineRecipe, isRecipe, Recipe, RecipeError,
  type RecipeConfig, type RecipeInput, type RecipeModel, type RecipeModuleMeta,
} from "./recipe.ts";
export { renderRecipe, recipeConfigFromOptions, type RecipeFigures } from "./recipe-export.ts";
export { sha256File } from "./fs/sha256-file.ts";
export {
  ChatSession, ChatTemplate, ChatError, ContextOverflowError, chatPrompt, applyChatTemplate, CONTEXT_OVERFLOW_POLICIES,
  type ChatEvent, type ChatMessage, type ChatPromptOptions, type ChatSessionOptions, type ChatStream, type ChatTurnResult,
  type ChatTurnStats, type ContextOverflowNotice, type ContextOverflowPolicy, type RenderOptions, type SavedChat, type TurnPart,
  ToolError, type ChatTool, type ToolCall, type ToolChoice, type ToolCallDelta,
  type ChatCompletionEvent, type ChatCompletionOptions, type ChatCompletionResult, type ChatCompletionStream,
} from "./chat/index.ts";
