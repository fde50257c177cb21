import { createTagParser } from "../parsing.js";
import { PY_WHITESPACE_CLASS, pyLower, pySplitlines, pyStrip } from "../pytext.js";
import type { ThinkingConfig } from "../thinking.js";
import { type RewardResult, weightedSum } from "./types.js";

// Python `\d` is any Unicode decimal digit; only one separator group is captured (so 1,234,567 → 1234).
const NUMBER = /[-+]?\p{Nd}+(?:[.,]\p{Nd}+)?/u;
const NUMBER_ALL = /[-+]?\p{Nd}+(?:[.,]\p{Nd}+)?/gu;
// Python's `$` also matches before one final newline.
const NUMERIC_ONLY = /^[-+]?[\p{Nd}.,]+\n?$/u;
// `.` without DOTALL excludes only "\n" in Python.
const HASH_ANSWER = new RegExp(`####[${PY_WHITESPACE_CLASS}]*([^\\n]+)`, "gu");
const TRAILING_WS_DOTS = new RegExp(`[${PY_WHITESPACE_CLASS}.]+$`, "u");

export interface Gsm8kParse {
  readonly answerText: string;
  readonly hasThinking: boolean;
  readonly hasAnswer: boolean;
  readonly trailingAfterAnswer: number;
  readonly isNumericOnly: boolean;
}

export function parseGsm8kCompletion(text: string, config: ThinkingConfig): Gsm8kParse {
  const tags = createTagParser(config);
  const hasThinking = tags.hasThinking(text);
  const hasAnswer = tags.hasAnswer(text);
  let answerText = "";
  let trailingAfterAnswer = 0;
  let isNumericOnly = false;
  if (hasAnswer) {
    const m = tags.answerWithThinkingCheck(text);
    if (m.content !== null) {
      const inside = pyStrip(m.content);
      trailingAfterAnswer = m.trailing;
      const num = NUMBER.exec(inside);
      if (num) {
        answerText = pyStrip(num[0].replaceAll(",", ""));
        isNumericOnly = NUMERIC_ONLY.test(inside.replaceAll(" ", ""));
      }
    }
  }
  return { answerText, hasThinking, hasAnswer, trailingAfterAnswer, isNumericOnly };
}

/** The gold value from a GSM8K worked solution: the last `#### x` (commas kept), else fallbacks. */
export function parseGsm8kGold(answer: string): string {
  let last: string | undefined;
  for (const m of answer.matchAll(HASH_ANSWER)) last = m[1];
  if (last !== undefined) return pyStrip(last);
  const nums = [...answer.matchAll(NUMBER_ALL)];
  const lastNum = nums[nums.length - 1];
  if (lastNum) return pyStrip(lastNum[0].replaceAll(",", ""));
  const lines = pySplitlines(answer)
    .map(pyStrip)
    .filter((l) => l.length > 0);
  return lines[lines.length - 1] ?? "";
}

export function normalizeGsm8kAnswer(s: string): string {
  return pyLower(pyStrip(s)).replace(TRAILING_WS_DOTS, "");
}

export const GSM8K_WEIGHTS = [0.6, 0.15, 0.1, 0.1, 0.05] as const;

export function scoreGsm8k(completion: string, goldSolution: string, config: ThinkingConfig): RewardResult {
  const p = parseGsm8kCompletion(completion, config);
  const gold = parseGsm8kGold(goldSolution);
  const success = p.answerText !== "" && normalizeGsm8kAnswer(p.answerText) === normalizeGsm8kAnswer(gold);
  const values = [
    success ? 1.0 : 0.0,
    p.hasAnswer && p.isNumericOnly && p.trailingAfterAnswer === 0 ? 0.3 : 0.0,
    p.hasThinking ? 0.5 : 0.0,
    p.hasAnswer ? 0.3 : 0.0,
    p.hasAnswer ? Math.max(0, 0.2 - 0.001 * p.trailingAfterAnswer) : 0.0,
  ];
  return {
    reward: weightedSum(values, GSM8K_WEIGHTS),
    success,
    components: Object.fromEntries(values.map((v, i) => [`r${i}`, v])),
    details: { kind: "answer", goldAnswer: gold, predAnswer: p.answerText },
  };
}
