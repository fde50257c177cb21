import { pythonSum } from "@grail/protocol";
import { createTagParser } from "../parsing.js";
import { pyStrip } from "../pytext.js";
import type { CodeRunResult, CodeSandbox } from "../sandbox/code-sandbox.js";
import type { ThinkingConfig } from "../thinking.js";
import type { RewardResult } from "./types.js";

/** The test material of an MBPP row. */
export interface MbppTests {
  readonly testList: readonly string[];
  readonly testSetupCode: string;
  readonly testImports: readonly string[];
}

/** The test material of a HumanEval row. */
export interface HumanEvalTests {
  readonly test: string;
  readonly entryPoint: string;
}

export type CodeTests =
  | ({ readonly kind: "mbpp" } & MbppTests)
  | ({ readonly kind: "humaneval" } & HumanEvalTests);

/** `prepare_test_cases`: one program per assert for MBPP, one `check(entry)` call for HumanEval. */
export function prepareTestCases(tests: CodeTests): string[] {
  if (tests.kind === "mbpp") {
    let setup = tests.testImports.length > 0 ? tests.testImports.join("\n") : "";
    if (tests.testSetupCode) setup += `\n${tests.testSetupCode}`;
    return tests.testList.map((t) => (setup ? `${setup}\n${t}` : t));
  }
  if (tests.entryPoint && tests.test) return [`${tests.test}\ncheck(${tests.entryPoint})`];
  return [];
}

export interface CodeParse {
  readonly code: string;
  readonly hasThinking: boolean;
  readonly hasSolution: boolean;
  readonly trailingAfterSolution: number;
}

/** Tag part of `PythonCodeParser.parse`; `syntax_valid` needs the interpreter (see scoreCode). */
export function parseCodeCompletion(text: string, config: ThinkingConfig): CodeParse {
  const tags = createTagParser(config);
  const hasThinking = tags.hasThinking(text);
  const hasSolution = tags.hasAnswer(text);
  let code = "";
  let trailingAfterSolution = 0;
  if (hasSolution) {
    const m = tags.answerWithThinkingCheck(text);
    if (m.content !== null) {
      code = pyStrip(m.content);
      trailingAfterSolution = Math.max(0, m.trailing);
    }
  }
  return { code, hasThinking, hasSolution, trailingAfterSolution };
}

export const CODE_WEIGHTS = [0.7, 0.1, 0.1, 0.1] as const;

/**
 * Scores a code completion as `PythonCodeEnv.step` does: tests run once, the rubric reads their
 * result, success means every test passed.
 */
export async function scoreCode(
  completion: string,
  tests: CodeTests,
  config: ThinkingConfig,
  sandbox: CodeSandbox,
): Promise<RewardResult> {
  const parsed = parseCodeCompletion(completion, config);
  let { code, trailingAfterSolution } = parsed;
  let syntaxValid = false;
  let run: CodeRunResult | null = null;
  if (code) {
    const cases = prepareTestCases(tests);
    run = cases.length > 0 ? await sandbox.run(code, cases) : null;
    const compile = run ? run.compile : await sandbox.compile(code);
    if (compile === "other") {
      // The reference parser's catch-all: the code is dropped and nothing is executed.
      code = "";
      trailingAfterSolution = 0;
      run = null;
    } else {
      syntaxValid = compile === "ok";
    }
  }
  const passed = run?.passed ?? 0;
  const total = run?.total ?? 0;
  const values = [
    total === 0 ? 0.0 : passed / total,
    syntaxValid ? 1.0 : 0.0,
    parsed.hasSolution && trailingAfterSolution < 50 ? 1.0 : 0.0,
    parsed.hasThinking ? 1.0 : 0.0,
  ];
  const [correctness = 0, syntax = 0, format = 0, thinking = 0] = values;
  return {
    // The rubric uses Python's built-in sum(), compensated on the validator's CPython 3.12.
    reward: pythonSum(values.map((v, i) => v * (CODE_WEIGHTS[i] as number))),
    success: run?.status === "all_passed",
    components: { correctness, syntax, format, thinking },
    details: {
      kind: "code",
      testsPassed: passed,
      testsTotal: total,
      status: run?.status ?? "no_code",
      testResults: run?.testResults ?? [],
      hasCode: code !== "",
      syntaxValid,
    },
    ...(run?.status === "base_exception" ? { validatorWouldRaise: true } : {}),
  };
}
