import type { ChatMessage, ChatTokenizer } from "./chat-tokenizer.js";

/** From the checkpoint's `thinking_mode` (spec environments §3.1). */
export type ThinkingMode = "instructed" | "native";

/** The ChatML template the trainer installs in instructed mode (PROTOCOL, spec environments §3.3). */
export const INSTRUCTED_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const SYSTEM_PROMPT_LINES = [
  "You are given a problem. Think step by step.",
  "Place your reasoning between <start_working_out> and </end_working_out>.",
  "You may write and reason about code during your thinking.",
  "After thinking, you MUST provide your final solution wrapped in <SOLUTION> and </SOLUTION> tags.",
  "Any code outside <SOLUTION> tags will be ignored. Your answer will score 0 without these tags.",
];

/** Instructed: all five lines; native: the same without the second (its tags come from the model). */
export function systemPrompt(mode: ThinkingMode): string {
  const lines = mode === "instructed" ? SYSTEM_PROMPT_LINES : SYSTEM_PROMPT_LINES.filter((_, i) => i !== 1);
  return lines.join("\n");
}

/** `[{system, SYSTEM_PROMPT}, {user, content}]`: the only message shape environments produce. */
export function promptMessages(mode: ThinkingMode, userContent: string): ChatMessage[] {
  return [
    { role: "system", content: systemPrompt(mode) },
    { role: "user", content: userContent },
  ];
}

/**
 * Renders and tokenizes a problem prompt as miner and validator do: instructed mode with the protocol
 * ChatML, native mode with the checkpoint's own template and `enable_thinking=True`.
 */
export async function buildPrompt(
  tokenizer: ChatTokenizer,
  mode: ThinkingMode,
  userContent: string,
): Promise<{ text: string; ids: number[] }> {
  const messages = promptMessages(mode, userContent);
  const text =
    mode === "instructed"
      ? tokenizer.renderChat(messages, { chatTemplate: INSTRUCTED_CHAT_TEMPLATE })
      : tokenizer.renderChat(messages, { templateKwargs: { enable_thinking: true } });
  return { text, ids: await tokenizer.encode(text) };
}
