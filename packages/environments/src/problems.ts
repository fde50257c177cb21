import type { Gsm8kRow, HumanEvalRow, MathRow, MbppRow } from "./datasets/catalog.js";
import type { Gsm8kSplit, MathSplit, MbppSplit } from "./datasets/store.js";
import { InvalidSplitError, UnknownEnvironmentError } from "./errors.js";
import { pyStrip } from "./pytext.js";
import type { HumanEvalTests, MbppTests } from "./rewards/code.js";
import { firstBoxedContent } from "./rewards/math.js";
import { type ThinkingMode, thinkingConfig } from "./thinking.js";

/** The environments this package implements, under their canonical ids. */
export type EnvId = "gsm8k" | "math" | "mbpp" | "humaneval";

/** Every `env_id` a checkpoint may name that this package serves (`python_code` aliases mbpp). */
export const SUPPORTED_ENV_IDS = ["mbpp", "python_code", "humaneval", "gsm8k", "math"] as const;

export type EnvSplit =
  | { readonly env: "gsm8k"; readonly split: Gsm8kSplit }
  | { readonly env: "math"; readonly split: MathSplit }
  | { readonly env: "mbpp"; readonly split: MbppSplit }
  | { readonly env: "humaneval"; readonly split: "test" };

/**
 * `create_env(env_id, env_params)`: the split is `env_params.split` (default "train") when the
 * params are non-empty; each env accepts only its own split names (spec §1.4).
 */
export function resolveEnvSplit(
  envId: string,
  envParams?: Readonly<Record<string, unknown>> | null,
): EnvSplit {
  let split = "train";
  if (envParams && Object.keys(envParams).length > 0 && envParams.split !== undefined)
    split = String(envParams.split);
  switch (envId) {
    case "gsm8k":
    case "math":
      if (split === "train" || split === "val" || split === "test") return { env: envId, split };
      throw new InvalidSplitError(envId, split, ["train", "val", "test"]);
    case "mbpp":
    case "python_code": {
      const actual = split === "val" ? "validation" : split;
      if (actual === "train" || actual === "validation") return { env: "mbpp", split: actual };
      throw new InvalidSplitError(envId, split, ["train", "validation", "val"]);
    }
    case "humaneval":
      return { env: "humaneval", split: "test" };
    default:
      throw new UnknownEnvironmentError(envId, SUPPORTED_ENV_IDS);
  }
}

interface ProblemBase {
  readonly split: string;
  readonly index: number;
  /** `"{split}_{idx}"` (`"humaneval_{idx}"` for HumanEval). */
  readonly taskId: string;
  readonly seed: number;
  /** The user message content (PROTOCOL). */
  readonly question: string;
}

export interface Gsm8kProblem extends ProblemBase {
  readonly env: "gsm8k";
  /** The worked solution ending in `#### <answer>`. */
  readonly answer: string;
}

export interface MathProblem extends ProblemBase {
  readonly env: "math";
  readonly solution: string;
  /** The first `\boxed{…}` of the solution, "" if none. */
  readonly answer: string;
  readonly level: number;
  readonly subject: string;
}

export interface MbppProblem extends ProblemBase {
  readonly env: "mbpp";
  readonly tests: MbppTests;
  readonly referenceSolution: string;
  readonly datasetTaskId: number;
}

export interface HumanEvalProblem extends ProblemBase {
  readonly env: "humaneval";
  readonly tests: HumanEvalTests;
  readonly referenceSolution: string;
  readonly originalTaskId: string;
}

export type Problem = Gsm8kProblem | MathProblem | MbppProblem | HumanEvalProblem;

const TWO_32 = 4294967296;

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
}

/** GSM8K/MATH: `int(((seed % 2**32) / 2**32) * n)` in doubles (the division is exact). */
export function uniformIndex(seed: number, n: number): number {
  checkSeed(seed);
  const s = ((seed % TWO_32) + TWO_32) % TWO_32;
  return Math.floor((s / TWO_32) * n);
}

/** MBPP/HumanEval: Python `seed % n` (never negative). */
export function moduloIndex(seed: number, n: number): number {
  checkSeed(seed);
  return ((seed % n) + n) % n;
}

export function gsm8kProblem(rows: readonly Gsm8kRow[], split: Gsm8kSplit, seed: number): Gsm8kProblem {
  const index = uniformIndex(seed, rows.length);
  const row = rows[index] as Gsm8kRow;
  return {
    env: "gsm8k",
    split,
    index,
    taskId: `${split}_${index}`,
    seed,
    question: row.question,
    answer: row.answer,
  };
}

/** `int(first run of digits)` of e.g. "Level 3"; 0 when there is none ("Level ?"). */
export function parseMathLevel(level: string): number {
  const m = /\d+/.exec(level);
  return m ? Number.parseInt(m[0], 10) : 0;
}

export function mathProblem(rows: readonly MathRow[], split: MathSplit, seed: number): MathProblem {
  const index = uniformIndex(seed, rows.length);
  const row = rows[index] as MathRow;
  return {
    env: "math",
    split,
    index,
    taskId: `${split}_${index}`,
    seed,
    question: row.problem,
    solution: row.solution,
    answer: firstBoxedContent(row.solution),
    level: parseMathLevel(row.level),
    subject: row.type,
  };
}

/**
 * The first line whose strip() starts with "def " — possibly a helper rather than the function
 * under test, as upstream (spec §10 item 10).
 */
export function mbppSignature(code: string): string {
  for (const line of code.split("\n")) {
    const stripped = pyStrip(line);
    if (stripped.startsWith("def ")) return stripped;
  }
  return "";
}

export function mbppQuestion(row: Pick<MbppRow, "text" | "code">): string {
  const sig = mbppSignature(row.code);
  return sig ? `${row.text}\n\n${sig}\n    pass` : row.text;
}

export function mbppProblem(rows: readonly MbppRow[], split: MbppSplit, seed: number): MbppProblem {
  const index = moduloIndex(seed, rows.length);
  const row = rows[index] as MbppRow;
  return {
    env: "mbpp",
    split,
    index,
    taskId: `${split}_${index}`,
    seed,
    question: mbppQuestion(row),
    tests: { testList: row.test_list, testSetupCode: row.test_setup_code, testImports: row.test_imports },
    referenceSolution: row.code,
    datasetTaskId: row.task_id,
  };
}

export function humanEvalProblem(rows: readonly HumanEvalRow[], seed: number): HumanEvalProblem {
  const index = moduloIndex(seed, rows.length);
  const row = rows[index] as HumanEvalRow;
  return {
    env: "humaneval",
    split: "test",
    index,
    taskId: `humaneval_${index}`,
    seed,
    question: row.prompt,
    tests: { test: row.test, entryPoint: row.entry_point },
    referenceSolution: row.canonical_solution,
    originalTaskId: row.task_id,
  };
}

export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

/**
 * What the generation side needs to render the prompt exactly as the validator does: the
 * messages, and how to call the chat template (spec §3.1–§3.3).
 */
export interface PromptSpec {
  readonly messages: readonly ChatMessage[];
  readonly thinkingMode: ThinkingMode;
  /** "protocol-chatml": use INSTRUCTED_CHAT_TEMPLATE; "checkpoint": the tokenizer's own template. */
  readonly chatTemplate: "protocol-chatml" | "checkpoint";
  readonly addGenerationPrompt: true;
  /** Pass `enable_thinking` with this value; undefined means do not pass the kwarg. */
  readonly enableThinking: boolean | undefined;
}

/** `[{system, SYSTEM_PROMPT}, {user, question}]` for the active thinking mode. */
export function buildPrompt(problem: Pick<Problem, "question">, mode: ThinkingMode): PromptSpec {
  const cfg = thinkingConfig(mode);
  return {
    messages: [
      { role: "system", content: cfg.systemPrompt },
      { role: "user", content: problem.question },
    ],
    thinkingMode: mode,
    chatTemplate: cfg.chatTemplate,
    addGenerationPrompt: true,
    enableThinking: cfg.enableThinking,
  };
}

/** Renders the instructed-mode ChatML template in code (for tests, logs and the CPU devnet). */
export function renderInstructedChatml(messages: readonly ChatMessage[]): string {
  return `${messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("")}<|im_start|>assistant\n`;
}
