import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BUNDLED_TABLES,
  bundledDatasetStore,
  CodeSandbox,
  createEnvironment,
  type Problem,
  parseGsm8kGold,
} from "../src/index.js";
import { TEST_PYTHON } from "./python.js";

const wrap = (s: string) => `<start_working_out>work</end_working_out><SOLUTION>${s}</SOLUTION><|im_end|>`;

describe("the bundled problem set for the local network", () => {
  const sandbox = new CodeSandbox({ python: TEST_PYTHON, workers: 2 });
  const datasets = bundledDatasetStore();
  beforeAll(() => sandbox.start());
  afterAll(() => sandbox.close());

  it("derives every split with the production code", async () => {
    expect((await datasets.gsm8k("train")).length).toBe(8);
    expect((await datasets.gsm8k("val")).length).toBe(2);
    expect((await datasets.math("train")).length).toBe(7);
    expect((await datasets.math("val")).length).toBe(7);
    expect((await datasets.math("test")).length).toBe(7);
    expect((await datasets.mbpp("train")).length).toBe(4 + 4);
    expect((await datasets.mbpp("validation")).length).toBe(1 + 1);
    expect((await datasets.humaneval()).length).toBe(4);
  });

  it("every problem is solvable: its reference answer earns success", async () => {
    const cases: [string, Record<string, string>][] = [
      ["gsm8k", { split: "train" }],
      ["gsm8k", { split: "val" }],
      ["gsm8k", { split: "test" }],
      ["math", { split: "train" }],
      ["math", { split: "val" }],
      ["math", { split: "test" }],
      ["mbpp", { split: "train" }],
      ["mbpp", { split: "validation" }],
      ["humaneval", {}],
    ];
    let checked = 0;
    for (const [envId, params] of cases) {
      const env = createEnvironment(envId, params, { datasets, sandbox });
      const n = await env.size();
      for (let seed = 0; seed < n; seed++) {
        const p: Problem = await env.problemFromSeed(seed);
        const answer =
          p.env === "gsm8k"
            ? parseGsm8kGold(p.answer)
            : p.env === "math"
              ? p.answer
              : p.env === "mbpp"
                ? p.referenceSolution
                : p.question + p.referenceSolution;
        const r = await env.score(p, wrap(answer), "instructed");
        expect([envId, p.taskId, r.success]).toEqual([envId, p.taskId, true]);
        checked++;
      }
    }
    expect(checked).toBe(8 + 2 + 3 + 7 + 7 + 7 + 8 + 2 + 4);
  });

  it("is our own material, not rows of the real datasets", () => {
    expect(
      BUNDLED_TABLES.humaneval["openai_humaneval/test"]?.every((r) => r.task_id.startsWith("LocalEval/")),
    ).toBe(true);
    expect(BUNDLED_TABLES.mbpp["full/train"]?.every((r) => r.task_id >= 9100)).toBe(true);
  });
});
