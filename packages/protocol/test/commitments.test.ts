import {
  bytesToHex,
  CommitmentsFormatError,
  canonicalCommitmentsJson,
  commitBinding,
  commitBindingFromHash,
  commitBindingPreimage,
  hashCommitments,
  hashTokens,
  parseCommitmentsJson,
  pythonCommitmentsJson,
} from "@grail/protocol";
import fc from "fast-check";
import { describe, expect, test } from "vitest";

const TOKENS = [1, 2, 3, 151643, 4294967295, 70000];
const SKETCHES = [0, 123, 2147483646, 14224, 42, 7];
const INPUT = {
  tokens: TOKENS,
  randomnessHex: "0xABCDEF0123",
  modelName: "Qwen/Qwen3-4B",
  layerIndex: -1,
  sketches: SKETCHES,
};

describe("commitments JSON and hash (spec §11.6)", () => {
  test("canonical JSON and its hash", () => {
    expect(bytesToHex(hashTokens(TOKENS))).toBe(
      "5ca8a0812801fdbcccc2a329606a5e3121aa4e14cd5ec189775bccb9f470d573",
    );
    expect(canonicalCommitmentsJson(SKETCHES)).toBe(
      '[{"sketch":0},{"sketch":123},{"sketch":2147483646},{"sketch":14224},{"sketch":42},{"sketch":7}]',
    );
    expect(bytesToHex(hashCommitments(SKETCHES))).toBe(
      "bd7c9469b8bc04c9c775dfd60ae3383673d2b035ef22248457b17b83c1edca85",
    );
  });

  test("hash_commitments([])", () => {
    expect(canonicalCommitmentsJson([])).toBe("[]");
    expect(bytesToHex(hashCommitments([]))).toBe(
      "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    );
  });

  test("Parquet column uses Python's default separators", () => {
    expect(pythonCommitmentsJson([1, 2])).toBe('[{"sketch": 1}, {"sketch": 2}]');
    expect(pythonCommitmentsJson([])).toBe("[]");
    expect(() => canonicalCommitmentsJson([1.5])).toThrow(CommitmentsFormatError);
  });

  test("parse accepts any whitespace and refuses non-integers and other shapes", () => {
    expect(parseCommitmentsJson('[{"sketch": 84}, {"sketch": 2147483563}]')).toEqual([84, 2147483563]);
    expect(parseCommitmentsJson(' [ {\n"sketch" :-3 } ]\n')).toEqual([-3]);
    expect(parseCommitmentsJson('[{"sk\\u0065tch": 5}]')).toEqual([5]);
    expect(parseCommitmentsJson("[]")).toEqual([]);
    for (const bad of [
      '[{"sketch": 1.0}]',
      '[{"sketch": 1e3}]',
      '[{"sketch": "1"}]',
      '[{"sketch": 1, "x": 2}]',
      '[{"other": 1}]',
      "[1, 2]",
      '{"sketch": 1}',
      '[{"sketch": 1},]',
      '[{"sketch": 1}] x',
      '[{"sketch": 01}]',
      "",
    ]) {
      expect(() => parseCommitmentsJson(bad), bad).toThrow(CommitmentsFormatError);
    }
  });

  test("property: both serialisations parse back to the sketches", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2147483646 }), { maxLength: 50 }), (s) => {
        expect(parseCommitmentsJson(pythonCommitmentsJson(s))).toEqual(s);
        expect(parseCommitmentsJson(canonicalCommitmentsJson(s))).toEqual(s);
        expect(JSON.parse(pythonCommitmentsJson(s))).toEqual(s.map((sketch) => ({ sketch })));
      }),
    );
  });
});

describe("commit binding (spec §11.6)", () => {
  test("preimage and digest", () => {
    expect(bytesToHex(commitBindingPreimage({ ...INPUT, commitmentsHash: hashCommitments(SKETCHES) }))).toBe(
      "677261696c2d636f6d6d69742d7631000000205ca8a0812801fdbcccc2a329606a5e3121aa4e14cd5ec189775bccb9f470d57300000005abcdef01230000000d5177656e2f5177656e332d344200000004ffffffff00000020bd7c9469b8bc04c9c775dfd60ae3383673d2b035ef22248457b17b83c1edca85",
    );
    expect(bytesToHex(commitBinding(INPUT))).toBe(
      "6b8fb15ca423fc1b990d4960d233437475e543254f9be451bc1be152de96b7c7",
    );
    expect(commitBindingFromHash({ ...INPUT, commitmentsHash: hashCommitments(SKETCHES) })).toEqual(
      commitBinding(INPUT),
    );
  });

  test("odd-length randomness and an empty model name", () => {
    const digest = commitBinding({ ...INPUT, randomnessHex: "bcdef0123", modelName: "" });
    expect(bytesToHex(digest)).toBe("939f6f46f6a1f9ba2ddeebbfe31f2734e04f9b9cc1ccacb09e0b33cbb5795b5e");
  });

  test("every part is bound", () => {
    const base = bytesToHex(commitBinding(INPUT));
    const variants = [
      { ...INPUT, tokens: [...TOKENS, 1] },
      { ...INPUT, randomnessHex: "abcdef0124" },
      { ...INPUT, modelName: "Qwen/Qwen3-8B" },
      { ...INPUT, layerIndex: 0 },
      { ...INPUT, sketches: [...SKETCHES.slice(0, 5), 8] },
    ];
    for (const v of variants) expect(bytesToHex(commitBinding(v))).not.toBe(base);
    expect(() => commitBinding({ ...INPUT, layerIndex: 2 ** 31 })).toThrow(/int32/);
  });
});
