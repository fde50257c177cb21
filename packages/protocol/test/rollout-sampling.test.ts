import {
  type CommitRecord,
  groupCommitDigest,
  referenceCommitJson,
  sampleGroupsByDigest,
  sha256Hex,
  validatorSampledGroups,
  validatorSampleSize,
} from "@grail/protocol";
import { describe, expect, test } from "vitest";
import {
  GROUP_DIGESTS,
  HOTKEY,
  rowCommit,
  VECTOR_ROWS as rows,
  SAMPLED_GROUPS,
  WINDOW_RAND,
} from "./sample-vector.js";

// The vectors and where they come from: ./sample-vector.ts.

const digestsOf = (pairs: [number, string][]) => pairs.map(([group, digest]) => ({ group, digest }));

describe("the commit as the reference validator hashes it", () => {
  test("json.dumps(commit, sort_keys=True, separators=(',', ':')) of a decoded row", () => {
    expect(referenceCommitJson(rowCommit(0, 0))).toBe(
      '{"beacon":{"randomness":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"},' +
        '"commitments":[{"sketch":0},{"sketch":104729},{"sketch":209458},{"sketch":314187},{"sketch":418916},' +
        '{"sketch":523645},{"sketch":628374},{"sketch":733103},{"sketch":837832},{"sketch":942561}],' +
        '"model":{"layer_index":-1,"name":"Qwen/Qwen3-4B"},"proof_version":"v5",' +
        '"rollout":{"advantage":-1.6304347826086958,"completion_length":6,"prompt_length":4,"success":false,' +
        '"token_logprobs":[0.0,0.0,0.0,0.0,-0.0,-0.14385713636875153,-0.28771427273750305,-0.43157142400741577,' +
        '-0.5754285454750061,-0.7192857265472412],"total_reward":0.0},' +
        `"signature":"${"0".repeat(128)}","tokens":[0,7,14,21,28,35,42,49,56,63]}`,
    );
  });

  test("Python's int/float split, float repr, ASCII escapes and NaN/Infinity in the JSON columns", () => {
    const tricky: CommitRecord = {
      tokens: [151644, 0, 7, 151645],
      commitments:
        '[ {"sketch":84 } ,\n{"sketch": 2147483563}, {"sketch": -0}, {"sketch": 1.0}, {"sketch": 1E2}, {"sketch": 123456789012345678901234567890}]',
      proof_version: "v5",
      model: { name: 'Qwen/Qwen3-4B "\u00e9" \\ \n\t\x7f\x01 \u{1F600}', layer_index: -1 },
      signature: "ab".repeat(64),
      beacon:
        '{"z": [1.5, -0.0, 1e-7, 1e16, 123456789.0, 0.0001, 0.00001, 1e15, NaN, Infinity, -Infinity, true, false, null], "randomness": "0a1b", "a": {"y": "\\u00e9\\ud83d\\ude00\\u007f", "b": 0.1, "B": 1e400}}',
      rollout: {
        total_reward: 0.5,
        advantage: -1.2345678901234568e-5,
        success: true,
        token_logprobs: [0, -0, -0.0123, -1e-5, -3, -123456.789, -1e-10, 2.5e20].map(Math.fround),
        prompt_length: 2,
        completion_length: 2,
      },
    };
    const expected = String.raw`{"beacon":{"a":{"B":Infinity,"b":0.1,"y":"\u00e9\ud83d\ude00\u007f"},"randomness":"0a1b","z":[1.5,-0.0,1e-07,1e+16,123456789.0,0.0001,1e-05,1000000000000000.0,NaN,Infinity,-Infinity,true,false,null]},"commitments":[{"sketch":84},{"sketch":2147483563},{"sketch":0},{"sketch":1.0},{"sketch":100.0},{"sketch":123456789012345678901234567890}],"model":{"layer_index":-1,"name":"Qwen/Qwen3-4B \"\u00e9\" \\ \n\t\u007f\u0001 \ud83d\ude00"},"proof_version":"v5","rollout":{"advantage":-1.2345678901234568e-05,"completion_length":2,"prompt_length":2,"success":true,"token_logprobs":[0.0,-0.0,-0.012299999594688416,-9.999999747378752e-06,-3.0,-123456.7890625,-1.000000013351432e-10,2.5000000501021934e+20],"total_reward":0.5},"signature":"abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab","tokens":[151644,0,7,151645]}`;
    const json = referenceCommitJson(tricky);
    expect(json).toBe(expected);
    expect(sha256Hex(json)).toBe("7a632e4aa092a3e33e22c2823b84abdb11be6e76b6f58562d72a3a2563d0a929");
  });

  test("_group_digest: SHA-256 over the SHA-256 of each member's commit JSON, rows in file order", () => {
    for (const [g, digest] of GROUP_DIGESTS) {
      expect(groupCommitDigest(rows.filter((r) => r.rollout_group === g).map((r) => r.commit))).toBe(digest);
    }
  });
});

describe("the validator's group sample (§7.3)", () => {
  test("count: max(1, min(G, int(0.1·G))), capped at 64 // 16 = 4 groups", () => {
    const cases: [number, number][] = [
      [1, 1],
      [2, 1],
      [9, 1],
      [10, 1],
      [19, 1],
      [20, 2],
      [29, 2],
      [30, 3],
      [39, 3],
      [40, 4],
      [49, 4],
      [50, 4],
      [100, 4],
      [1000, 4],
    ];
    for (const [groups, count] of cases) expect(validatorSampleSize(groups)).toBe(count);
  });

  test("vector: hotkey, window_rand, group digests → sampled groups (draw order)", () => {
    expect(sampleGroupsByDigest(HOTKEY, WINDOW_RAND, digestsOf(GROUP_DIGESTS))).toEqual(SAMPLED_GROUPS);
  });

  test("vector: the same from the rows of the file", () => {
    expect(validatorSampledGroups(HOTKEY, WINDOW_RAND, rows)).toEqual(SAMPLED_GROUPS);
  });

  test("vector: 12 groups (pool method) and 50 groups (set method, cap 4)", () => {
    const synthetic = (n: number): [number, string][] =>
      Array.from({ length: n }, (_, i) => [i * 3, sha256Hex(`group-${i}`)]);
    expect(
      sampleGroupsByDigest(
        "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        WINDOW_RAND,
        digestsOf(synthetic(12)),
      ),
    ).toEqual([21]);
    expect(sampleGroupsByDigest(HOTKEY, WINDOW_RAND, digestsOf(synthetic(50)))).toEqual([51, 126, 138, 84]);
  });

  test("equal digests keep file order, as Python's stable sort does", () => {
    const d0 = sha256Hex("tie-0");
    const d1 = sha256Hex("tie-1");
    const pairs: [number, string][] = [
      [5, d1],
      [2, d0],
      [9, d1],
      [1, d0],
      ...Array.from({ length: 16 }, (_, i): [number, string] => [100 + i, sha256Hex(`group-${i}`)]),
    ];
    expect(sampleGroupsByDigest(HOTKEY, WINDOW_RAND, digestsOf(pairs))).toEqual([100, 5]);
    // Swapping the tied groups in the file swaps which of them the same draw picks.
    const swapped = pairs.map(([g, d]): [number, string] => [g === 5 ? 9 : g === 9 ? 5 : g, d]);
    expect(sampleGroupsByDigest(HOTKEY, WINDOW_RAND, digestsOf(swapped))).toEqual([100, 9]);
  });

  test("a file of at most 20 rows is checked whole", () => {
    const small = rows.slice(0, 20);
    expect(validatorSampledGroups(HOTKEY, WINDOW_RAND, small)).toEqual([0, 11]);
  });
});
