// The chat layer: templates, prompts for a conversation, reasoning models' think blocks, and ChatSession.
export { ChatError, ContextOverflowError } from "./errors.ts";
export { ChatTemplate, applyChatTemplate, type ChatMessage, type RenderOptions } from "./template.ts";
export { chatPrompt, modelTemplate, CHAT_ENCODE } from "./prompt.ts";
export { ThinkingSplitter, opensThinking, type TurnPart } from "./thinking.ts";
export {
  ChatSession, CONTEXT_OVERFLOW_POLICIES,
  type ChatEvent, type ChatPromptOptions, type ChatSessionOptions, type ChatStream, type ChatTurnResult, type ChatTurnStats,
  type ContextOverflowNotice, type ContextOverflowPolicy, type SavedChat,
} from "./session.ts";
export {
  chatCompletion, prepareChat, ChatOutputReader,
  type ChatAnswer, type ChatCompletionEvent, type ChatCompletionOptions, type ChatCompletionResult, type ChatCompletionStream,
  type ChatDelta, type ChatRequestOptions, type PreparedChat, type ToolCallDelta,
} from "./completion.ts";
export { checkTools, ToolError, type ChatTool, type ToolCall, type ToolChoice } from "./tools/types.ts";
export { toolFamilyOf, type ToolFamilyName } from "./tools/families.ts";
