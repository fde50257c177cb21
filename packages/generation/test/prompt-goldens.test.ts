import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type ChatMessage, ChatTokenizer, INSTRUCTED_CHAT_TEMPLATE } from "../src/index.js";
import { fixturesDir, qwen3TokenizerDir } from "./helpers/paths.js";

interface GoldenCase {
  id: string;
  messageSet: string;
  template: string;
  kwargs: Record<string, unknown>;
  addGenerationPrompt: boolean;
  text: string;
  ids: number[];
  decoded: string;
}

interface Goldens {
  transformers: string;
  tokenizerJsonSha256: string;
  eosTokenId: number;
  templateSha256: Record<string, string>;
  cases: GoldenCase[];
}

const goldens = JSON.parse(readFileSync(path.join(fixturesDir, "prompt-goldens.json"), "utf8")) as Goldens;
const spec = JSON.parse(readFileSync(path.join(fixturesDir, "prompt-cases.json"), "utf8")) as {
  messageSets: { id: string; messages: ChatMessage[] }[];
};
const messagesById = new Map(spec.messageSets.map((m) => [m.id, m.messages]));
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

describe("prompt ids match python transformers (goldens from scripts/generation/make_prompt_goldens.py)", () => {
  let tokenizer: ChatTokenizer;
  const templates: Record<string, string> = {};

  beforeAll(async () => {
    tokenizer = await ChatTokenizer.fromDir(qwen3TokenizerDir());
    templates.instructed = INSTRUCTED_CHAT_TEMPLATE;
    templates.qwen3 = tokenizer.chatTemplate!;
    templates["qwen2.5"] = readFileSync(
      path.join(fixturesDir, "qwen2.5-instruct.chat_template.jinja"),
      "utf8",
    );
  });

  it("uses the same tokenizer.json and template sources as the golden run", () => {
    const tokenizerJson = readFileSync(path.join(qwen3TokenizerDir(), "tokenizer.json"));
    expect(sha256(tokenizerJson)).toBe(goldens.tokenizerJsonSha256);
    for (const [name, digest] of Object.entries(goldens.templateSha256)) {
      expect(sha256(templates[name]!), name).toBe(digest);
    }
    expect(tokenizer.eosTokenId).toBe(goldens.eosTokenId);
  });

  it("covers every message set with every template", () => {
    expect(goldens.cases.length).toBe(44);
    expect(goldens.cases.every((c) => Array.isArray(c.ids) && c.ids.length > 0)).toBe(true);
  });

  it.each(goldens.cases.map((c) => [c.id, c] as const))("%s", async (_id, golden) => {
    const messages = messagesById.get(golden.messageSet)!;
    const text = tokenizer.renderChat(messages, {
      chatTemplate: templates[golden.template]!,
      addGenerationPrompt: golden.addGenerationPrompt,
      templateKwargs: golden.kwargs,
    });
    expect(text).toBe(golden.text);
    expect(await tokenizer.encode(text)).toEqual(golden.ids);
    expect(await tokenizer.decode(golden.ids)).toBe(golden.decoded);
  });
});
