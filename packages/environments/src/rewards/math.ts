import { createTagParser } from "../parsing.js";
import { PY_WHITESPACE_CLASS, pyLower, pyStrip } from "../pytext.js";
import type { ThinkingConfig } from "../thinking.js";
import { fallbackSymbolicEqual, pythonFloat } from "./math-fallback.js";
import { type RewardResult, weightedSum } from "./types.js";

// Python's `\b` after "\left" is a Unicode word boundary: letters, digits and "_" continue the word.
const LEFT = /\\left(?![\p{L}\p{N}_])/gu;
const RIGHT = /\\right(?![\p{L}\p{N}_])/gu;
const WS_RUN = new RegExp(`[${PY_WHITESPACE_CLASS}]+`, "gu");

/** The reference's LaTeX normalisation, in its order (strip, fracs, delimiters, spacing, lower). */
export function normalizeMathAnswer(s: string): string {
  let t = pyStrip(s);
  t = t.replaceAll("\\dfrac", "\\frac").replaceAll("\\tfrac", "\\frac").replaceAll("\\cfrac", "\\frac");
  t = t.replace(LEFT, "").replace(RIGHT, "");
  t = t.replaceAll("\\,", "").replaceAll("\\!", "").replaceAll("\\;", "").replaceAll("\\:", "");
  t = t.replace(WS_RUN, "");
  return pyLower(t);
}

/** How an equality decision was reached; `undecided` means the TS fallback could not judge it. */
export type MathEqualityStrategy = "exact" | "sympy" | "float" | "none" | "undecided";

export interface MathEquality {
  readonly equal: boolean;
  readonly strategy: MathEqualityStrategy;
}

/**
 * Decides strategies (b) sympy and (c) float() for two already-normalised answers, the way the
 * reference does in Python. The sympy-backed implementation lives in `MathOracle`.
 */
export interface SymbolicJudge {
  judge(predNorm: string, goldNorm: string): Promise<MathEquality>;
}

/** Strategies (b)+(c) without Python: exact rational arithmetic plus Python's float grammar. */
export const fallbackJudge: SymbolicJudge = {
  async judge(p, g) {
    const sym = fallbackSymbolicEqual(p, g);
    if (sym === true) return { equal: true, strategy: "sympy" };
    const pf = pythonFloat(p);
    const gf = pythonFloat(g);
    if (pf !== null && gf !== null && Math.abs(pf - gf) < 1e-6) return { equal: true, strategy: "float" };
    return { equal: false, strategy: sym === null ? "undecided" : "none" };
  },
};

export async function mathAnswersEqual(
  pred: string,
  gold: string,
  judge: SymbolicJudge,
): Promise<MathEquality> {
  if (!pred || !gold) return { equal: false, strategy: "none" };
  const p = normalizeMathAnswer(pred);
  const g = normalizeMathAnswer(gold);
  if (p === g) return { equal: true, strategy: "exact" };
  return judge.judge(p, g);
}

/** Content of the LAST `\boxed{…}` with depth-matched braces (the env's gold fallback), or null. */
export function lastBoxedContent(text: string): string | null {
  const start = text.lastIndexOf("\\boxed{");
  if (start < 0) return null;
  const contentStart = start + 7;
  let depth = 1;
  for (let i = contentStart; i < text.length; i++) {
    const ch = text[i];
    if (ch === "{") depth++;
    else if (ch === "}") {
      depth--;
      if (depth === 0) return text.slice(contentStart, i);
    }
  }
  return null;
}

/** Content of the FIRST `\boxed{…}` (the dataset's `answer` field); "" when absent or unbalanced. */
export function firstBoxedContent(solution: string): string {
  const at = solution.indexOf("\\boxed{");
  if (at < 0) return "";
  const start = at + 7;
  let depth = 1;
  let i = start;
  while (i < solution.length && depth > 0) {
    const ch = solution[i];
    if (ch === "{") depth++;
    else if (ch === "}") depth--;
    i++;
  }
  return depth === 0 ? solution.slice(start, i - 1) : "";
}

export interface MathParse {
  readonly answerText: string;
  readonly hasThinking: boolean;
  readonly hasAnswer: boolean;
  readonly trailingAfterAnswer: number;
}

export function parseMathCompletion(text: string, config: ThinkingConfig): MathParse {
  const tags = createTagParser(config);
  const hasThinking = tags.hasThinking(text);
  const hasAnswer = tags.hasAnswer(text);
  let answerText = "";
  let trailingAfterAnswer = 0;
  if (hasAnswer) {
    const m = tags.answerWithThinkingCheck(text);
    if (m.content !== null) {
      answerText = pyStrip(m.content);
      trailingAfterAnswer = m.trailing;
    }
  }
  return { answerText, hasThinking, hasAnswer, trailingAfterAnswer };
}

export const MATH_WEIGHTS = [0.7, 0.15, 0.1, 0.05] as const;

export interface MathGold {
  /** The payload `answer` (first `\boxed`), which the correctness component compares against. */
  readonly answer: string;
  readonly solution: string;
}

export async function scoreMath(
  completion: string,
  gold: MathGold,
  config: ThinkingConfig,
  judge: SymbolicJudge,
): Promise<RewardResult & { readonly equality: MathEquality }> {
  const p = parseMathCompletion(completion, config);
  // Correctness reads the payload answer; success falls back to the last \boxed of the solution.
  // They differ only when the first \boxed is missing or unbalanced.
  const successGold = gold.answer || (gold.solution ? (lastBoxedContent(gold.solution) ?? "") : "");
  const equality = await mathAnswersEqual(p.answerText, gold.answer, judge);
  const correct = p.answerText !== "" && gold.answer !== "" && equality.equal;
  let success = correct;
  if (successGold !== gold.answer) success = (await mathAnswersEqual(p.answerText, successGold, judge)).equal;
  const values = [
    correct ? 1.0 : 0.0,
    p.hasAnswer && p.trailingAfterAnswer < 50 ? 0.3 : 0.0,
    p.hasThinking ? 0.5 : 0.0,
    p.hasAnswer ? Math.max(0, 0.2 - 0.001 * p.trailingAfterAnswer) : 0.0,
  ];
  return {
    reward: weightedSum(values, MATH_WEIGHTS),
    success,
    components: Object.fromEntries(values.map((v, i) => [`r${i}`, v])),
    details: { kind: "answer", goldAnswer: successGold, predAnswer: p.answerText },
    equality,
  };
}
