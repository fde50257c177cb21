import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fallbackJudge, MathOracle, mathAnswersEqual, scoreMath, THINKING_CONFIGS } from "../src/index.js";
import { TEST_PYTHON } from "./python.js";

// CI runs on the same image as development, which has python3 with sympy; without it the miner
// uses the fallback judge, which the rewards tests cover.
const HAS_SYMPY = MathOracle.available(TEST_PYTHON);

describe.runIf(HAS_SYMPY)("MATH equality through sympy (spec §5.2 vectors)", () => {
  const oracle = new MathOracle({ python: TEST_PYTHON, timeoutSeconds: 3 });
  beforeAll(() => oracle.start(), 60_000);
  afterAll(() => oracle.close());

  const vectors: [string, string, boolean][] = [
    ["\\dfrac{7}{20}", "\\frac{7}{20}", true],
    ["\\left( 3, 4 \\right)", "(3,4)", true],
    ["1/2", "0.5", true],
    ["0.5", "\\frac{1}{2}", false],
    ["0.1+0.2", "0.3", false],
    ["2^3", "8", false],
    ["10.0", "10", true],
    ["18\\text{ ways.}", "18\\text{ways.}", true],
    ["x+1", "1+x", true],
    ["2*5", "10", true],
    ["sqrt(2)", "2**(1/2)", true],
    ["1e3", "1000", true],
    ["6", "6.0000001", true],
    ["007", "7", true],
  ];
  it.each(vectors)("%s vs %s → %s", async (p, g, eq) => {
    expect((await mathAnswersEqual(p, g, oracle)).equal).toBe(eq);
  });

  it("agrees with the fallback wherever the fallback decides", async () => {
    const pairs: [string, string][] = [
      ["3/4", "0.75"],
      ["1/3", "0.333"],
      ["2**10", "1024"],
      ["-2**2", "-4"],
      ["(1+2)*3", "9"],
      ["0.1*3", "0.3"],
    ];
    for (const [p, g] of pairs) {
      const fb = await mathAnswersEqual(p, g, fallbackJudge);
      if (fb.strategy === "undecided") continue;
      expect([p, g, (await mathAnswersEqual(p, g, oracle)).equal]).toEqual([p, g, fb.equal]);
    }
  });

  it("model text evaluated by parse_expr cannot reach the system", async () => {
    const target = `/tmp/grail-math-pwned-${process.pid}`;
    const evil = `__import__('os').system('touch ${target}')`;
    const r = await mathAnswersEqual(evil, "0", oracle);
    expect(r.equal).toBe(false);
    const w = await mathAnswersEqual(`open('${target}','w').write('x')`, "1", oracle);
    expect(w.equal).toBe(false);
    expect(existsSync(target)).toBe(false);
  });

  it("model text evaluated by parse_expr cannot forge the helper's answer", async () => {
    // Finds the current request id in the helper's frames and sends "equal" on its answer channel.
    // Builtins are spelled through the module: parse_expr turns bare unknown names into symbols.
    const b = "__import__('builtins')";
    const frames = `${b}.map(__import__('sys')._getframe,${b}.range(1,60))`;
    const locals = `${b}.map(__import__('operator').attrgetter('f_locals'),${frames})`;
    const job = `${b}.next(${b}.filter(${b}.bool,${b}.map(${b}.dict.get,${locals},__import__('itertools').repeat('job'))))`;
    const forge = `__import__('__main__')._send({'id':${job}['id'],'equal':1==1,'strategy':'sympy'})`;
    expect(await mathAnswersEqual(forge, "12345", oracle)).toEqual({ equal: false, strategy: "none" });
    expect((await mathAnswersEqual("1/2", "0.5", oracle)).equal).toBe(true);
  });

  it("a comparison that never finishes counts as not equal and the helper comes back", async () => {
    const r = await mathAnswersEqual("2**(2**(2**40))", "1", oracle);
    expect(r).toEqual({ equal: false, strategy: "undecided" });
    expect((await mathAnswersEqual("1/2", "0.5", oracle)).equal).toBe(true);
  });

  it("scores a MATH completion end to end", async () => {
    const r = await scoreMath(
      "<start_working_out>..</end_working_out><SOLUTION>sqrt(4)</SOLUTION>",
      { answer: "2", solution: "\\boxed{2}" },
      THINKING_CONFIGS.instructed,
      oracle,
    );
    expect(r.success).toBe(true);
    expect(r.equality.strategy).toBe("sympy");
    expect(r.reward).toBeCloseTo(0.805, 12);
  });
});
