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
