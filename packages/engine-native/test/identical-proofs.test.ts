import { describe, expect, it } from "vitest";
import { identicalProofs } from "../src/index.js";

const proof = (sVals: number[], logprobs: number[], eosProb: number) => ({
  sVals: Uint32Array.from(sVals),
  logprobs: Float32Array.from(logprobs),
  eosProb,
});

describe("identicalProofs", () => {
  it("holds for the same bits and fails on any moved value", () => {
    const a = [proof([1, 2, 3], [-0.5, -1.25], 0.1), proof([7], [], Number.NaN)];
    expect(identicalProofs(a, [proof([1, 2, 3], [-0.5, -1.25], 0.1), proof([7], [], Number.NaN)])).toBe(true);
    expect(identicalProofs(a, [proof([1, 2, 4], [-0.5, -1.25], 0.1), a[1]!])).toBe(false);
    expect(identicalProofs(a, [proof([1, 2, 3], [-0.5, -1.5], 0.1), a[1]!])).toBe(false);
    expect(identicalProofs(a, [proof([1, 2, 3], [-0.5, -1.25], 0.2), a[1]!])).toBe(false);
    expect(identicalProofs(a, [a[0]!])).toBe(false);
    expect(identicalProofs(a, [a[0]!, proof([7, 8], [], Number.NaN)])).toBe(false);
    // 0 and -0 are different bits
    expect(identicalProofs([proof([], [0], 0)], [proof([], [-0], 0)])).toBe(false);
  });
});
