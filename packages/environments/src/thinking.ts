/** How the trainer's checkpoint says the model thinks (checkpoint metadata `thinking_mode`). */
export type ThinkingMode = "instructed" | "native";

/**
 * The ChatML template the trainer installs on the tokenizer in instructed mode (PROTOCOL: the
 * validator renders prompts with exactly this Jinja source).
 */
export const INSTRUCTED_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface ThinkingConfig {
  readonly mode: ThinkingMode;
  readonly thinkingOpen: string;
  readonly thinkingClose: string;
  readonly solutionOpen: string;
  readonly solutionClose: string;
  /** System prompt prepended to every problem (PROTOCOL, byte for byte). */
  readonly systemPrompt: string;
  /**
   * Which chat template renders the prompt: the protocol ChatML above (instructed) or the
   * checkpoint's own template left untouched (native).
   */
  readonly chatTemplate: "protocol-chatml" | "checkpoint";
  /** `enable_thinking` passed to the template; `undefined` means the kwarg is not passed at all. */
  readonly enableThinking: boolean | undefined;
}

const INSTRUCTED_SYSTEM_PROMPT = [
  "You are given a problem. Think step by step.",
  "Place your reasoning between <start_working_out> and </end_working_out>.",
  "You may write and reason about code during your thinking.",
  "After thinking, you MUST provide your final solution wrapped in <SOLUTION> and </SOLUTION> tags.",
  "Any code outside <SOLUTION> tags will be ignored. Your answer will score 0 without these tags.",
].join("\n");

// Native mode drops the line about the custom thinking tags: the model's template owns them.
const NATIVE_SYSTEM_PROMPT = INSTRUCTED_SYSTEM_PROMPT.split("\n")
  .filter((_, i) => i !== 1)
  .join("\n");

export const THINKING_CONFIGS: Readonly<Record<ThinkingMode, ThinkingConfig>> = {
  instructed: {
    mode: "instructed",
    thinkingOpen: "<start_working_out>",
    thinkingClose: "</end_working_out>",
    solutionOpen: "<SOLUTION>",
    solutionClose: "</SOLUTION>",
    systemPrompt: INSTRUCTED_SYSTEM_PROMPT,
    chatTemplate: "protocol-chatml",
    enableThinking: undefined,
  },
  native: {
    mode: "native",
    thinkingOpen: "<think>",
    thinkingClose: "</think>",
    solutionOpen: "<SOLUTION>",
    solutionClose: "</SOLUTION>",
    systemPrompt: NATIVE_SYSTEM_PROMPT,
    chatTemplate: "checkpoint",
    enableThinking: true,
  },
};

export function thinkingConfig(mode: ThinkingMode): ThinkingConfig {
  return THINKING_CONFIGS[mode];
}
