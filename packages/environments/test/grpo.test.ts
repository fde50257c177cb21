import { describe, expect, it } from "vitest";
import { assembleGroup, grpoAdvantages, type Problem, type RewardResult } from "../src/index.js";

const problem: Problem = {
  env: "gsm8k",
  split: "train",
  index: 0,
  taskId: "train_0",
  seed: 1,
  question: "q",
  answer: "#### 1",
};
const result = (reward: number, success = reward === 1): RewardResult => ({
  reward,
  success,
  components: {},
  details: { kind: "answer", goldAnswer: "1", predAnswer: "" },
});

describe("GRPO advantages (spec §7.2)", () => {
  it("matches the vectors", () => {
    const a = grpoAdvantages([1, ...Array(15).fill(0)]);
    expect(a[0]).toBeCloseTo(3.8729833462074166, 14);
    expect(a[1]).toBeCloseTo(-0.2581988897471611, 14);
    const b = grpoAdvantages([0.1, 0.2, 0.3, 0.4]);
    expect(b.map((x) => Number(x.toFixed(12)))).toEqual([
      -1.3416407865, -0.4472135955, 0.4472135955, 1.3416407865,
    ]);
    const rewards = [1, 0, 0, 1, 0.5, 0.25, 0, 0, 1, 1, 0, 0.75, 0, 0, 0, 1];
    const c = grpoAdvantages(rewards);
    expect(c[0]).toBeCloseTo(1.3205912890281402, 14);
    expect(c[1]).toBeCloseTo(-0.9035624609139906, 14);
    expect(c[4]).toBeCloseTo(0.20851441405707474, 14);
    expect(c[5]).toBeCloseTo(-0.34752402342845795, 14);
    expect(c[11]).toBeCloseTo(0.7645528515426074, 14);
  });
  it("handles the edge cases", () => {
    expect(grpoAdvantages([])).toEqual([]);
    expect(grpoAdvantages([0.7])).toEqual([0]);
    expect(grpoAdvantages(Array(16).fill(0.3))).toEqual(Array(16).fill(0));
  });
});

describe("group assembly", () => {
  it("attaches advantages and success flags and accepts a full group", () => {
    const g = assembleGroup(problem, [result(1), ...Array.from({ length: 15 }, () => result(0))]);
    expect(g.dropReason).toBeNull();
    expect(g.successes).toBe(1);
    expect(g.rollouts[0]?.advantage).toBeCloseTo(3.8729833462074166, 14);
    expect(g.rollouts.map((r) => r.rolloutIndex)).toEqual([...Array(16).keys()]);
    expect(g.meanReward).toBeCloseTo(1 / 16, 15);
  });
  it("refuses partial groups and completions the validator would raise on", () => {
    expect(assembleGroup(problem, [result(1), result(0)]).dropReason).toMatch(/2 rollouts/);
    const raising = { ...result(0.3), validatorWouldRaise: true };
    expect(
      assembleGroup(problem, [raising, ...Array.from({ length: 15 }, () => result(0))]).dropReason,
    ).toMatch(/raise/);
  });
});
