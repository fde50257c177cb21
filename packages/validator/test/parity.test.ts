import {
  DISTRIBUTION_SOFT_THRESHOLD,
  LOGPROB_IS_EPS,
  MIN_EOS_PROBABILITY,
  REWARD_SOFT_THRESHOLD,
  ROLLOUTS_PER_PROBLEM,
} from "@grail/protocol";
import { describe, expect, it } from "vitest";
import {
  FILE_GROUPS,
  HOTKEY,
  SAMPLED_GROUPS,
  VECTOR_ROWS,
  WINDOW_RAND,
} from "../../protocol/test/sample-vector.js";
import { CHECK_SPECS, CHECKS } from "../src/checks.js";
import { checkedGroupsOf, distributionGroupsOf } from "../src/sampling.js";
import { groupRows } from "../src/window-file.js";

describe("the local validator samples like the subnet's validator", () => {
  const context = {
    hotkey: HOTKEY,
    challengeRandomness: WINDOW_RAND,
    groupsOf: groupRows(VECTOR_ROWS),
    records: VECTOR_ROWS,
  };
  const ascending = (groups: Iterable<number>) => [...groups].sort((a, b) => a - b);

  it("checks the groups the reference samples, not a sample of the numerically sorted ids", () => {
    expect(checkedGroupsOf({ kind: "validator" }, context)).toEqual(ascending(SAMPLED_GROUPS));
  });

  it("runs P9 on the reference's sample by default", () => {
    expect(ascending(distributionGroupsOf("sampled", ascending(FILE_GROUPS), context))).toEqual(
      ascending(SAMPLED_GROUPS),
    );
  });

  it("checks a file of at most 20 rows whole", () => {
    const small = VECTOR_ROWS.slice(0, 20);
    expect(
      checkedGroupsOf({ kind: "validator" }, { ...context, groupsOf: groupRows(small), records: small }),
    ).toEqual([0, 11]);
  });
});

describe("the check list is the subnet validator's", () => {
  it("names each pipeline check as the validator's pipeline does, with its failure reason", () => {
    const pipeline = [
      "schema_valid",
      "tokens_valid",
      "env_prompt_valid",
      "proof_valid",
      "termination_valid",
      "env_eval_valid",
      "reward_valid",
      "logprobs_valid",
      "token_distribution_valid",
    ] as const;
    for (const id of pipeline) {
      const spec = CHECK_SPECS.get(id)!;
      expect(spec.validatorName).toBe(`${spec.severity}:${id}`);
    }
    // The commit signature is part of the validator's proof check.
    expect(CHECK_SPECS.get("commit_signature")!.validatorName).toBe("hard:proof_valid");
    expect(CHECK_SPECS.get("parquet_readable")!.validatorName).toBe("file:corrupt_parquet");
    expect(CHECK_SPECS.get("wallet_match")!.validatorName).toBe("file:wallet_mismatch");
    expect(CHECK_SPECS.get("group_size")!.validatorName).toBe("file:invalid_group_size");
    expect(CHECKS.every((c) => c.validatorName.length > 0)).toBe(true);
  });

  it("takes soft thresholds and limits from the protocol constants", () => {
    expect(CHECK_SPECS.get("reward_valid")!.threshold).toBe(REWARD_SOFT_THRESHOLD);
    expect(CHECK_SPECS.get("token_distribution_valid")!.threshold).toBe(DISTRIBUTION_SOFT_THRESHOLD);
    expect(REWARD_SOFT_THRESHOLD).toBe(0.2);
    expect(DISTRIBUTION_SOFT_THRESHOLD).toBe(0.51);
    expect(CHECK_SPECS.get("group_size")!.what).toContain(String(ROLLOUTS_PER_PROBLEM));
    expect(CHECK_SPECS.get("termination_valid")!.what).toContain(String(MIN_EOS_PROBABILITY));
    expect(CHECK_SPECS.get("logprobs_valid")!.what).toContain(LOGPROB_IS_EPS.toFixed(2));
  });
});
