import { pyLen } from "./pytext.js";
import type { ThinkingConfig } from "./thinking.js";

/** The result of locating the `<SOLUTION>` block the validator would pick (spec §4). */
export interface AnswerMatch {
  /** Text between the tags, unstripped; `null` when there is no closed answer block. */
  readonly content: string | null;
  /** Code points after the closing tag of the chosen block (0 when there is none). */
  readonly trailing: number;
  /** Whether the block was found after a closing thinking tag. */
  readonly afterThinking: boolean;
}

export interface TagParser {
  hasThinking(text: string): boolean;
  hasAnswer(text: string): boolean;
  answerWithThinkingCheck(text: string): AnswerMatch;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/**
 * Python `re` with IGNORECASE|DOTALL, searched lazily, has the same backtracking semantics as a
 * JS regex with the `isu` flags, so the block chosen here is the one the validator chooses.
 */
export function createTagParser(config: ThinkingConfig): TagParser {
  const open = escapeRegex(config.thinkingOpen);
  const close = escapeRegex(config.thinkingClose);
  const sOpen = escapeRegex(config.solutionOpen);
  const sClose = escapeRegex(config.solutionClose);
  const answer = new RegExp(`${sOpen}(?<content>.*?)${sClose}`, "isu");
  const thinkThenAnswer = new RegExp(`(?:${open})?.*?${close}.*?${sOpen}(?<content>.*?)${sClose}`, "isu");
  const closeLower = config.thinkingClose.toLowerCase();

  const hasThinking = (text: string): boolean => text.toLowerCase().includes(closeLower);
  const trailingAfter = (text: string, m: RegExpExecArray): number =>
    pyLen(text.slice(m.index + m[0].length));

  return {
    hasThinking,
    hasAnswer: (text) => answer.test(text),
    answerWithThinkingCheck(text) {
      // Any think-then-answer match contains an answer match, so checking the cheap pattern first
      // changes no result and keeps long answer-less completions linear.
      const plain = answer.exec(text);
      if (!plain) return { content: null, trailing: 0, afterThinking: false };
      if (hasThinking(text)) {
        const m = thinkThenAnswer.exec(text);
        if (m)
          return { content: m.groups?.content ?? "", trailing: trailingAfter(text, m), afterThinking: true };
      }
      return {
        content: plain.groups?.content ?? "",
        trailing: trailingAfter(text, plain),
        afterThinking: false,
      };
    },
  };
}
