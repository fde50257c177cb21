import { describe, expect, it } from "vitest";
import {
  distributionVerdict,
  isClose,
  logprobVerdict,
  numpyQuantile,
  pythonMedian,
  sampledTokenProbability,
  softmaxProbability,
} from "../src/index.js";

describe("the statistics the validator's checks use", () => {
  it("medians like Python's statistics.median and quantiles like numpy's linear rule", () => {
    expect(pythonMedian([3, 1, 2])).toBe(2);
    expect(pythonMedian([4, 1, 3, 2])).toBe(2.5);
    expect(numpyQuantile([0.5, 0.1, 0.9, 0.3], 0.1)).toBeCloseTo(0.16, 12);
    expect(numpyQuantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5)).toBe(5.5);
    expect(numpyQuantile([3], 0.1)).toBe(3);
  });

  it("compares rewards with math.isclose semantics", () => {
    expect(isClose(1.0, 1.019, 0.02, 1e-6)).toBe(true);
    expect(isClose(1.0, 1.03, 0.02, 1e-6)).toBe(false);
    expect(isClose(0, 5e-7, 0.02, 1e-6)).toBe(true);
    expect(isClose(0, 2e-6, 0.02, 1e-6)).toBe(false);
    expect(isClose(Number.NaN, Number.NaN, 0.02, 1e-6)).toBe(false);
  });

  it("judges logprobs by the median importance-sampling deviation and fails closed", () => {
    const v = Array.from({ length: 32 }, (_, i) => -i / 10);
    expect(logprobVerdict(v, v).ok).toBe(true);
    // 16 of 32 positions off by 0.2 (dev 0.221), 16 exact: median = (0 + 0.221) / 2 ≈ 0.11 > 0.10.
    const off = v.map((x, i) => (i < 16 ? x - 0.2 : x));
    const verdict = logprobVerdict(v, off);
    expect(verdict.ok).toBe(false);
    expect(verdict.medianDeviation).toBeCloseTo(Math.expm1(0.2) / 2, 12);
    // 15 off: the median is the mean of two exact positions.
    expect(
      logprobVerdict(
        v,
        v.map((x, i) => (i < 15 ? x - 5 : x)),
      ).ok,
    ).toBe(true);
    expect(
      logprobVerdict(
        v,
        v.map((x, i) => (i === 3 ? Number.NaN : x)),
      ).ok,
    ).toBe(false);
  });

  it("applies HF's repetition penalty then temperature, without top-k/top-p", () => {
    const logits = () => Float32Array.from([2.0, -1.0, 0.5, 3.0, -2.0]);
    const context = new Set([0, 1]);
    // numpy reference (float32 logits): 0.10731223 and 0.86580044
    expect(sampledTokenProbability(logits(), 0, context, 1.3, 0.7)).toBeCloseTo(0.10731223, 6);
    expect(sampledTokenProbability(logits(), 3, context, 1.3, 0.7)).toBeCloseTo(0.86580044, 6);
    expect(sampledTokenProbability(logits(), 3, new Set(), 1.0, 1.0)).toBeCloseTo(
      softmaxProbability([2.0, -1.0, 0.5, 3.0, -2.0], 3),
      12,
    );
  });

  it("fails the distribution check on each of its four statistics", () => {
    const good = Array.from({ length: 40 }, (_, i) => 0.4 + (i % 5) / 10);
    expect(distributionVerdict(good).ok).toBe(true);
    expect(distributionVerdict(good.slice(0, 29)).message).toMatch(/only 29 completion steps/);
    expect(distributionVerdict(good.map(() => 0.3)).message).toMatch(/median 0.300 ≤ 0.3/);
    expect(distributionVerdict(good.map((p, i) => (i === 7 ? 1e-5 : p))).message).toMatch(/min .* ≤ 0.00001/);
    const lowTail = good.map((p, i) => (i % 8 === 0 ? 0.02 : p));
    expect(distributionVerdict(lowTail).message).toMatch(/q10/);
    // Low probabilities only in the first 50 steps of a long completion.
    const long = Array.from({ length: 400 }, (_, i) => (i < 50 && i % 4 === 0 ? 0.01 : 0.8));
    const v = distributionVerdict(long);
    expect(v.ok).toBe(false);
    expect(v.message).toMatch(/first 50/);
    expect(v.q10).toBeGreaterThan(0.025);
  });
});
