import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { Template } from "@huggingface/jinja";
import { Tokenizer } from "tokenizers";
import { TokenizerError } from "../errors.js";

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

/** The fields of tokenizer_config.json this package reads. */
export interface TokenizerConfig {
  chat_template?: string | { name: string; template: string }[];
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  unk_token?: string | { content: string } | null;
  sep_token?: string | { content: string } | null;
  pad_token?: string | { content: string } | null;
  cls_token?: string | { content: string } | null;
  mask_token?: string | { content: string } | null;
  additional_special_tokens?: (string | { content: string })[];
  clean_up_tokenization_spaces?: boolean;
  [key: string]: unknown;
}

export interface RenderOptions {
  /** Default true, as the miner always asks for the assistant turn. */
  addGenerationPrompt?: boolean;
  /** Overrides the tokenizer's own template (instructed mode installs the protocol ChatML). */
  chatTemplate?: string;
  /** Extra template variables, e.g. `{ enable_thinking: true }` in native mode. */
  templateKwargs?: Record<string, unknown>;
}

const SPECIAL_TOKEN_KEYS = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
] as const;

function tokenText(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  return null;
}

/** transformers' `clean_up_tokenization` (applied on decode when the config asks for it). */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    await stat(file);
  } catch {
    return null;
  }
  return readFile(file, "utf8");
}

/**
 * A checkpoint's tokenizer: HF `tokenizers` (the same Rust code transformers' fast tokenizers run)
 * for ids, and `@huggingface/jinja` for the chat template, rendered with the variables
 * `apply_chat_template` passes (messages, tools=None, documents=None, add_generation_prompt, the
 * special-token strings, and caller kwargs such as enable_thinking).
 */
export class ChatTokenizer {
  private readonly templates = new Map<string, Template>();

  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly config: TokenizerConfig,
    /** The checkpoint's own chat template, if it has one. */
    readonly chatTemplate: string | null,
    readonly source: string,
  ) {}

  /**
   * Loads `tokenizer.json`, `tokenizer_config.json` and, when present, `chat_template.jinja` (which
   * newer transformers versions save separately and prefer over the config's field).
   */
  static async fromDir(dir: string): Promise<ChatTokenizer> {
    const tokenizerFile = path.join(dir, "tokenizer.json");
    const json = await readIfExists(tokenizerFile);
    if (json === null) {
      throw new TokenizerError(
        `${tokenizerFile} not found; the checkpoint must ship a fast tokenizer (tokenizer.json)`,
        {
          dir,
        },
      );
    }
    const configText = await readIfExists(path.join(dir, "tokenizer_config.json"));
    let config: TokenizerConfig = {};
    if (configText !== null) {
      try {
        config = JSON.parse(configText) as TokenizerConfig;
      } catch (error) {
        throw new TokenizerError(
          `tokenizer_config.json in ${dir} is not valid JSON`,
          { dir },
          { cause: error },
        );
      }
    }
    const jinja = await readIfExists(path.join(dir, "chat_template.jinja"));
    return ChatTokenizer.fromJson(json, config, jinja, dir);
  }

  static fromJson(
    tokenizerJson: string,
    config: TokenizerConfig = {},
    chatTemplateOverride: string | null = null,
    source = "memory",
  ): ChatTokenizer {
    let tokenizer: Tokenizer;
    try {
      tokenizer = Tokenizer.fromString(tokenizerJson);
    } catch (error) {
      throw new TokenizerError(
        `tokenizer.json from ${source} could not be parsed: ${(error as Error).message}`,
        {
          source,
        },
      );
    }
    let template: string | null = chatTemplateOverride;
    if (template === null) {
      const t = config.chat_template;
      if (typeof t === "string") template = t;
      else if (Array.isArray(t)) template = t.find((entry) => entry.name === "default")?.template ?? null;
    }
    return new ChatTokenizer(tokenizer, config, template, source);
  }

  get eosToken(): string | null {
    return tokenText(this.config.eos_token);
  }

  /** `tokenizer.eos_token_id`: the only stop id the validator's termination check accepts. */
  get eosTokenId(): number | null {
    const eos = this.eosToken;
    return eos === null ? null : this.tokenToId(eos);
  }

  get vocabSize(): number {
    return this.tokenizer.getVocabSize(true);
  }

  tokenToId(token: string): number | null {
    return this.tokenizer.tokenToId(token) ?? null;
  }

  /** The special-token strings transformers exposes to templates (`special_tokens_map`). */
  specialTokensMap(): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    for (const key of SPECIAL_TOKEN_KEYS) {
      const text = tokenText(this.config[key]);
      if (text !== null) map[key] = text;
    }
    const extra = this.config.additional_special_tokens;
    if (Array.isArray(extra) && extra.length > 0) {
      map.additional_special_tokens = extra.map(tokenText).filter((t): t is string => t !== null);
    }
    return map;
  }

  renderChat(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    const source = options.chatTemplate ?? this.chatTemplate;
    if (source === null || source === undefined) {
      throw new TokenizerError(
        `the tokenizer from ${this.source} has no chat_template; pass one explicitly (instructed mode uses the protocol template)`,
        { source: this.source },
      );
    }
    let template = this.templates.get(source);
    if (!template) {
      try {
        template = new Template(source);
      } catch (error) {
        throw new TokenizerError(
          `chat template does not parse: ${(error as Error).message}`,
          {},
          { cause: error },
        );
      }
      this.templates.set(source, template);
    }
    try {
      return template.render({
        ...this.specialTokensMap(),
        messages: messages.map((m) => ({ ...m })),
        tools: null,
        documents: null,
        add_generation_prompt: options.addGenerationPrompt ?? true,
        ...(options.templateKwargs ?? {}),
      });
    } catch (error) {
      throw new TokenizerError(
        `chat template failed to render: ${(error as Error).message}`,
        {},
        { cause: error },
      );
    }
  }

  /** `tokenizer(text).input_ids` with add_special_tokens=True (the post-processor of tokenizer.json). */
  async encode(text: string): Promise<number[]> {
    const encoding = await this.tokenizer.encode(text, null, { addSpecialTokens: true });
    return encoding.getIds();
  }

  /** `tokenizer.decode(ids, skip_special_tokens=…)` with the config's clean_up_tokenization_spaces. */
  async decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): Promise<string> {
    const text = await this.tokenizer.decode([...ids], options.skipSpecialTokens ?? false);
    return this.config.clean_up_tokenization_spaces === true ? cleanUpTokenization(text) : text;
  }
}
