import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildPrompt,
  ChatTokenizer,
  cleanUpTokenization,
  INSTRUCTED_CHAT_TEMPLATE,
  promptMessages,
  systemPrompt,
  TokenizerError,
} from "../src/index.js";
import { qwen3TokenizerDir } from "./helpers/paths.js";

const MBPP_9001 =
  "Write a function to return the sum of the squares of the digits of a non-negative integer.\n\ndef digit_square_sum(n):\n    pass";

// spec environments.md §3.3: the rendered instructed-mode prompt for MBPP fixture row 9001
const MBPP_9001_RENDERED = `<|im_start|>system
You are given a problem. Think step by step.
Place your reasoning between <start_working_out> and </end_working_out>.
You may write and reason about code during your thinking.
After thinking, you MUST provide your final solution wrapped in <SOLUTION> and </SOLUTION> tags.
Any code outside <SOLUTION> tags will be ignored. Your answer will score 0 without these tags.<|im_end|>
<|im_start|>user
Write a function to return the sum of the squares of the digits of a non-negative integer.

def digit_square_sum(n):
    pass<|im_end|>
<|im_start|>assistant
`;

let tokenizer: ChatTokenizer;
let tmp: string;
beforeAll(async () => {
  tokenizer = await ChatTokenizer.fromDir(qwen3TokenizerDir());
  tmp = await mkdtemp(path.join(tmpdir(), "grail-tok-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("thinking modes", () => {
  it("renders the instructed prompt of spec §3.3 exactly", async () => {
    const { text, ids } = await buildPrompt(tokenizer, "instructed", MBPP_9001);
    expect(text).toBe(MBPP_9001_RENDERED);
    expect(ids[0]).toBe(151644);
    expect(ids.filter((t) => t === 151645)).toHaveLength(2);
    expect(ids.slice(-3)).toEqual([151644, 77091, 198]); // <|im_start|> assistant \n
  });

  it("uses the model's template with enable_thinking in native mode, and the four-line system prompt", async () => {
    const { text } = await buildPrompt(tokenizer, "native", "Q");
    expect(systemPrompt("native").split("\n")).toHaveLength(4);
    expect(systemPrompt("native")).not.toContain("<start_working_out>");
    expect(text).toBe(
      `<|im_start|>system\n${systemPrompt("native")}<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n`,
    );
    const noThinking = tokenizer.renderChat(promptMessages("native", "Q"), {
      templateKwargs: { enable_thinking: false },
    });
    expect(noThinking.endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n")).toBe(true);
  });

  it("splits added tokens out of text and round-trips ids", async () => {
    const ids = await tokenizer.encode("a<think>b</think><|im_end|>");
    expect(ids).toContain(151667);
    expect(ids).toContain(151668);
    expect(ids.at(-1)).toBe(151645);
    expect(await tokenizer.decode(ids)).toBe("a<think>b</think><|im_end|>");
    expect(await tokenizer.decode(ids, { skipSpecialTokens: true })).not.toContain("<|im_end|>");
    expect(tokenizer.eosTokenId).toBe(151645);
  });
});

describe("ChatTokenizer files", () => {
  it("prefers chat_template.jinja over the config's template", async () => {
    const dir = path.join(tmp, "with-jinja");
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await copyFile(path.join(qwen3TokenizerDir(), "tokenizer.json"), path.join(dir, "tokenizer.json"));
    await copyFile(
      path.join(qwen3TokenizerDir(), "tokenizer_config.json"),
      path.join(dir, "tokenizer_config.json"),
    );
    await writeFile(path.join(dir, "chat_template.jinja"), INSTRUCTED_CHAT_TEMPLATE);
    const t = await ChatTokenizer.fromDir(dir);
    expect(t.chatTemplate).toBe(INSTRUCTED_CHAT_TEMPLATE);
  });

  it("fails with TokenizerError when tokenizer.json or the template is missing", async () => {
    await expect(ChatTokenizer.fromDir(tmp)).rejects.toBeInstanceOf(TokenizerError);
    const bare = ChatTokenizer.fromJson(
      JSON.stringify({ version: "1.0", model: { type: "WordLevel", vocab: { a: 0 }, unk_token: "a" } }),
    );
    expect(() => bare.renderChat([{ role: "user", content: "x" }])).toThrow(TokenizerError);
    expect(() =>
      tokenizer.renderChat([{ role: "user", content: "x" }], { chatTemplate: "{% if %}" }),
    ).toThrow(TokenizerError);
  });

  it("applies transformers' clean_up_tokenization when configured", () => {
    expect(cleanUpTokenization("Hello , world . It 's")).toBe("Hello, world. It's");
  });
});
