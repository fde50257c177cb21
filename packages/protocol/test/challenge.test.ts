import { ChallengeInputError, challengeIndices, challengeMaterial, HexFormatError } from "@grail/protocol";
import { describe, expect, test } from "vitest";

// The reference's `indices_from_root_in_range` / `indices_from_root` (grail/protocol/crypto.py)
// raise ValueError on these inputs; a validator never derives indices from them.
const TOKENS = Array.from({ length: 100 }, (_, i) => i * 3);
const R = "ea87bb091f4bf092669c9ece3cf6668f2027f59240d75dbabdf023cc3f27e1ee";

describe("challengeIndices refuses what the reference refuses", () => {
  test("k = 0 and negative k", () => {
    expect(() => challengeIndices(TOKENS, R, 10, 90, 0)).toThrow(ChallengeInputError);
    expect(() => challengeIndices(TOKENS, R, 10, 90, 0)).toThrow(/k must be positive/);
    expect(() => challengeIndices(TOKENS, R, 10, 90, -1)).toThrow(ChallengeInputError);
  });

  test("a negative start", () => {
    expect(() => challengeIndices(TOKENS, R, -1, 90)).toThrow(ChallengeInputError);
    expect(() => challengeIndices(TOKENS, R, -1, 90)).toThrow(/start must be non-negative/);
  });

  test("an end before the start", () => {
    expect(() => challengeIndices(TOKENS, R, 50, 40)).toThrow(ChallengeInputError);
    expect(() => challengeIndices(TOKENS, R, 50, 40)).toThrow(/end must be >= start/);
  });

  test("empty randomness, also after trimming and dropping 0x", () => {
    for (const empty of ["", "   ", "0x", " 0X0x "]) {
      expect(() => challengeIndices(TOKENS, empty, 10, 90)).toThrow(ChallengeInputError);
      expect(() => challengeIndices(TOKENS, empty, 10, 90)).toThrow(/randomness is empty/);
      expect(() => challengeMaterial(TOKENS, empty)).toThrow(ChallengeInputError);
    }
  });

  test("an empty token list", () => {
    expect(() => challengeIndices([], R, 0, 40)).toThrow(ChallengeInputError);
    expect(() => challengeMaterial([], R)).toThrow(/tokens list cannot be empty/);
  });

  test("the error carries the offending values", () => {
    try {
      challengeIndices(TOKENS, R, -3, 90, 32);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ChallengeInputError);
      expect((err as ChallengeInputError).context).toMatchObject({ start: -3, end: 90, k: 32 });
    }
  });

  test("non-hex randomness stays a hex error", () => {
    expect(() => challengeIndices(TOKENS, "zz", 10, 90)).toThrow(HexFormatError);
  });

  test("an empty range is still [] before any other check, as in the reference", () => {
    expect(challengeIndices(TOKENS, R, 40, 40)).toEqual([]);
    expect(challengeIndices([], "", 0, 0, 0)).toEqual([]);
  });
});
