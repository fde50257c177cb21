import { GRPO_ADV_SUM_TOLERANCE, grpoAdvantages, pythonSum, ROLLOUTS_PER_PROBLEM } from "@grail/protocol";
import type { Problem } from "./problems.js";
import type { RewardResult } from "./rewards/types.js";

/** One scored rollout of a group, ready for packaging next to its tokens and proof. */
export interface ScoredRollout {
  readonly rolloutIndex: number;
  readonly reward: number;
  readonly advantage: number;
  readonly success: boolean;
  readonly result: RewardResult;
}

export interface ScoredGroup {
  readonly problem: Problem;
  readonly rollouts: readonly ScoredRollout[];
  /** Number of rollouts whose env reported success. */
  readonly successes: number;
  readonly meanReward: number;
  /**
   * Why the group must not be uploaded, if anything: a wrong size (partial groups invalidate the
   * whole file), an advantage sum over the validator's tolerance, or a completion the validator's
   * env would raise on.
   */
  readonly dropReason: string | null;
}

/**
 * Attaches GRPO advantages (population std, 1e-8 floor; spec §7.2) and success flags to the
 * rewards of one group, and says whether the validator's group checks (§7.4) would pass.
 */
export function assembleGroup(
  problem: Problem,
  results: readonly RewardResult[],
  groupSize: number = ROLLOUTS_PER_PROBLEM,
): ScoredGroup {
  const rewards = results.map((r) => r.reward);
  const advantages = grpoAdvantages(rewards);
  const rollouts = results.map((result, i) => ({
    rolloutIndex: i,
    reward: result.reward,
    advantage: advantages[i] as number,
    success: result.success,
    result,
  }));
  let dropReason: string | null = null;
  const advSum = pythonSum(advantages);
  if (results.length !== groupSize) dropReason = `group has ${results.length} rollouts, needs ${groupSize}`;
  else if (Math.abs(advSum) > GRPO_ADV_SUM_TOLERANCE) dropReason = `advantages sum to ${advSum}`;
  else if (results.some((r) => r.validatorWouldRaise))
    dropReason = "a completion makes the validator's env raise";
  return {
    problem,
    rollouts,
    successes: results.filter((r) => r.success).length,
    meanReward: results.length === 0 ? 0 : pythonSum(rewards) / results.length,
    dropReason,
  };
}

export { grpoAdvantages };
