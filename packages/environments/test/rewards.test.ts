import { describe, expect, it } from "vitest";
import {
  createTagParser,
  fallbackJudge,
  fallbackSymbolicEqual,
  firstBoxedContent,
  lastBoxedContent,
  mathAnswersEqual,
  normalizeGsm8kAnswer,
  normalizeMathAnswer,
  parseCodeCompletion,
  parseGsm8kCompletion,
  parseGsm8kGold,
  prepareTestCases,
  pyLen,
  pySplitlines,
  pyStrip,
  pythonFloat,
  scoreGsm8k,
  scoreMath,
  THINKING_CONFIGS,
} from "../src/index.js";

const INS = THINKING_CONFIGS.instructed;
const NAT = THINKING_CONFIGS.native;
const E = "<|im_end|>";
const GOLD7 = "3 + 4 = <<3+4=7>>7\n#### 7";

describe("Python string semantics", () => {
  it("strips Python's whitespace set, not JS's", () => {
    expect(pyStrip("\x1c\x85 a \u3000")).toBe("a");
    expect(pyStrip("\ufeffa\ufeff")).toBe("\ufeffa\ufeff");
  });
  it("counts code points", () => {
    expect(pyLen("a😀b")).toBe(3);
  });
  it("splits lines like str.splitlines", () => {
    expect(pySplitlines("a\r\nb\x85c\n")).toEqual(["a", "b", "c"]);
    expect(pySplitlines("")).toEqual([]);
  });
});

describe("tag parsing (spec §4)", () => {
  const p = createTagParser(INS);
  it("detects thinking by the closing tag only, case-insensitively", () => {
    expect(p.hasThinking("x </END_WORKING_OUT>")).toBe(true);
    expect(p.hasThinking("<start_working_out> only")).toBe(false);
  });
  it("needs a closed answer block", () => {
    expect(p.hasAnswer("<SOLUTION>7")).toBe(false);
    expect(p.hasAnswer("<solution>7</Solution>")).toBe(true);
  });
  it("picks the first block after the first close tag that has one, trailing in code points", () => {
    const text = "<start_working_out><SOLUTION>5</SOLUTION></end_working_out><SOLUTION>7</SOLUTION>😀😀";
    expect(p.answerWithThinkingCheck(text)).toEqual({ content: "7", trailing: 2, afterThinking: true });
  });
  it("falls back to the first block anywhere", () => {
    expect(p.answerWithThinkingCheck("<SOLUTION>a</SOLUTION><SOLUTION>b</SOLUTION>")).toEqual({
      content: "a",
      trailing: 22,
      afterThinking: false,
    });
    expect(p.answerWithThinkingCheck("none")).toEqual({ content: null, trailing: 0, afterThinking: false });
  });
  it("uses <think> tags in native mode", () => {
    const n = createTagParser(NAT);
    expect(n.hasThinking("</think>")).toBe(true);
    expect(n.hasThinking("</end_working_out>")).toBe(false);
  });
});

describe("GSM8K rewards (spec §5.1, §5.4 vectors)", () => {
  const think = "<start_working_out>3+4=7</end_working_out>";
  const cases: [string, number[], number][] = [
    [`${think}<SOLUTION>7</SOLUTION>`, [1, 0.3, 0.5, 0.3, 0.2], 0.735],
    [`${think}<SOLUTION>7</SOLUTION>${E}`, [1, 0, 0.5, 0.3, 0.19], 0.6895],
    [`${think}\n<SOLUTION> 7 apples </SOLUTION>${E}`, [1, 0, 0.5, 0.3, 0.19], 0.6895],
    ["<SOLUTION>7</SOLUTION>", [1, 0.3, 0, 0.3, 0.2], 0.685],
    [`${think}<SOLUTION>8</SOLUTION>\nDone.${E}`, [0, 0, 0.5, 0.3, 0.184], 0.0892],
    [
      "<start_working_out><SOLUTION>5</SOLUTION></end_working_out><SOLUTION>7</SOLUTION>",
      [1, 0.3, 0.5, 0.3, 0.2],
      0.735,
    ],
    [`${think}<solution>7.</solution>`, [1, 0.3, 0.5, 0.3, 0.2], 0.735],
  ];
  it.each(cases)("%s", (completion, components, total) => {
    const r = scoreGsm8k(completion, GOLD7, INS);
    expect(Object.values(r.components).map((v) => Number(v.toFixed(6)))).toEqual(components);
    expect(r.reward).toBeCloseTo(total, 12);
    expect(r.success).toBe(components[0] === 1);
  });
  it("captures a single separator group", () => {
    expect(parseGsm8kCompletion("<SOLUTION>1,234,567</SOLUTION>", INS).answerText).toBe("1234");
  });
  it("reads Unicode digits like Python's \\d and judges numeric-only text", () => {
    const p = parseGsm8kCompletion("<SOLUTION>٤٢</SOLUTION>", INS);
    expect(p.answerText).toBe("٤٢");
    expect(p.isNumericOnly).toBe(true);
    expect(parseGsm8kCompletion("<SOLUTION>$7</SOLUTION>", INS).isNumericOnly).toBe(false);
  });
  it("keeps the gold's commas (a 1,000-style gold is never matched)", () => {
    expect(parseGsm8kGold("It ships 3,600 eggs.\n#### 3,600")).toBe("3,600");
    expect(scoreGsm8k("<SOLUTION>3600</SOLUTION>", "#### 3,600", INS).success).toBe(false);
  });
  it("takes the last #### and the gold fallbacks", () => {
    expect(parseGsm8kGold("#### 1\nmore\n####  2 ")).toBe("2");
    expect(parseGsm8kGold("so 1,200 and then 35.")).toBe("35");
    expect(parseGsm8kGold("no numbers\n\nlast line \n")).toBe("last line");
  });
  it("normalises like the reference: 7. == 7, 7.0 != 7, +7 != 7", () => {
    expect(normalizeGsm8kAnswer(" 7. ")).toBe("7");
    expect(scoreGsm8k("<SOLUTION>7.0</SOLUTION>", GOLD7, INS).success).toBe(false);
    expect(scoreGsm8k("<SOLUTION>+7</SOLUTION>", GOLD7, INS).success).toBe(false);
  });
});

describe("MATH equality (spec §5.2)", () => {
  it("normalises LaTeX in the reference's order", () => {
    expect(normalizeMathAnswer(" \\dfrac{7}{20} ")).toBe("\\frac{7}{20}");
    expect(normalizeMathAnswer("\\left( 3, 4 \\right)")).toBe("(3,4)");
    expect(normalizeMathAnswer("\\leftarrow")).toBe("\\leftarrow");
    expect(normalizeMathAnswer("18\\text{ Ways.}")).toBe("18\\text{ways.}");
    expect(normalizeMathAnswer("a\\,b\\!c\\;d\\:e")).toBe("abcde");
  });
  const vectors: [string, string, boolean][] = [
    ["\\dfrac{7}{20}", "\\frac{7}{20}", true],
    ["\\left( 3, 4 \\right)", "(3,4)", true],
    ["1/2", "0.5", true],
    ["0.5", "\\frac{1}{2}", false],
    ["0.1+0.2", "0.3", false],
    ["2^3", "8", false],
    ["10.0", "10", true],
    ["18\\text{ ways.}", "18\\text{ways.}", true],
  ];
  it.each(vectors)("fallback judge: %s vs %s → %s", async (p, g, eq) => {
    expect((await mathAnswersEqual(p, g, fallbackJudge)).equal).toBe(eq);
  });
  it("exact rational arithmetic decides what it can and reports the rest", () => {
    expect(fallbackSymbolicEqual("2*5", "10")).toBe(true);
    expect(fallbackSymbolicEqual("2**-1", "0.5")).toBe(true);
    expect(fallbackSymbolicEqual("2^3", "1")).toBe(true); // Python XOR, as sympy parses it
    expect(fallbackSymbolicEqual("-2**2", "-4")).toBe(true);
    expect(fallbackSymbolicEqual("3/4", "0.75")).toBe(true);
    expect(fallbackSymbolicEqual("1/3", "0.333")).toBe(false);
    expect(fallbackSymbolicEqual("x+1", "1+x")).toBeNull();
    expect(fallbackSymbolicEqual("sqrt(2)", "2**(1/2)")).toBeNull();
    expect(fallbackSymbolicEqual("007", "7")).toBeNull();
  });
  it("follows Python's float() grammar", () => {
    expect(pythonFloat("1_000.5")).toBe(1000.5);
    expect(pythonFloat("1e3")).toBe(1000);
    expect(pythonFloat("-Infinity")).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(pythonFloat("nan") as number)).toBe(true);
    expect(pythonFloat("1__0")).toBeNull();
    expect(pythonFloat("0x10")).toBeNull();
    expect(pythonFloat("007")).toBe(7);
  });
  it("finds the first and the last \\boxed with depth-matched braces", () => {
    const sol = "a \\boxed{\\frac{1}{2}} b \\boxed{3}";
    expect(firstBoxedContent(sol)).toBe("\\frac{1}{2}");
    expect(lastBoxedContent(sol)).toBe("3");
    expect(firstBoxedContent("\\boxed{ {unbalanced }")).toBe("");
    expect(firstBoxedContent("\\boxed 5")).toBe("");
  });
  it("scores with weights 0.7/0.15/0.1/0.05: max 0.805, 0.8045 with the EOS suffix", async () => {
    const gold = { answer: "\\frac{7}{20}", solution: "so \\boxed{\\dfrac{7}{20}}" };
    const ok = await scoreMath(
      "<start_working_out>x</end_working_out><SOLUTION>\\dfrac{7}{20}</SOLUTION>",
      gold,
      INS,
      fallbackJudge,
    );
    expect(ok.reward).toBeCloseTo(0.805, 12);
    expect(ok.success).toBe(true);
    const eos = await scoreMath(
      `</end_working_out><SOLUTION>\\frac{7}{20}</SOLUTION>${E}`,
      gold,
      INS,
      fallbackJudge,
    );
    expect(eos.reward).toBeCloseTo(0.8045, 12);
    const far = await scoreMath(`<SOLUTION>1</SOLUTION>${"x".repeat(60)}`, gold, INS, fallbackJudge);
    expect(far.components).toEqual({ r0: 0, r1: 0, r2: 0, r3: 0.2 - 0.06 });
  });
  it("a row without \\boxed can never be solved (empty gold)", async () => {
    const r = await scoreMath(
      "<SOLUTION>6</SOLUTION>",
      { answer: "", solution: "the answer is 6." },
      INS,
      fallbackJudge,
    );
    expect(r.success).toBe(false);
    expect(r.components.r0).toBe(0);
  });
  it("success falls back to the last \\boxed when the first is unbalanced; correctness does not", async () => {
    const r = await scoreMath(
      "<SOLUTION>4</SOLUTION>",
      { answer: "", solution: "\\boxed{ oops \\boxed{4}" },
      INS,
      fallbackJudge,
    );
    expect(r.success).toBe(true);
    expect(r.components.r0).toBe(0);
  });
});

describe("code completions (spec §5.3, §6.1)", () => {
  it("extracts stripped code and trailing count", () => {
    const p = parseCodeCompletion(
      `<start_working_out>t</end_working_out><SOLUTION>\ndef f(): pass\n</SOLUTION>${E}`,
      INS,
    );
    expect(p).toEqual({
      code: "def f(): pass",
      hasThinking: true,
      hasSolution: true,
      trailingAfterSolution: 10,
    });
  });
  it("assembles MBPP tests with the leading-newline setup quirk", () => {
    expect(
      prepareTestCases({ kind: "mbpp", testList: ["assert a"], testSetupCode: "base = 1", testImports: [] }),
    ).toEqual(["\nbase = 1\nassert a"]);
    expect(
      prepareTestCases({
        kind: "mbpp",
        testList: ["assert a", "assert b"],
        testSetupCode: "",
        testImports: ["import math"],
      }),
    ).toEqual(["import math\nassert a", "import math\nassert b"]);
    expect(
      prepareTestCases({ kind: "mbpp", testList: ["assert a"], testSetupCode: "", testImports: [] }),
    ).toEqual(["assert a"]);
  });
  it("assembles HumanEval as one check() call, without the prompt", () => {
    expect(prepareTestCases({ kind: "humaneval", test: "def check(c): pass", entryPoint: "f" })).toEqual([
      "def check(c): pass\ncheck(f)",
    ]);
    expect(prepareTestCases({ kind: "humaneval", test: "def check(c): pass", entryPoint: "" })).toEqual([]);
  });
});
