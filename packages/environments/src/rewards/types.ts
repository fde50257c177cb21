/** What scoring one completion yields; `reward` is the number uploaded as `total_reward`. */
export interface RewardResult {
  readonly reward: number;
  /** The env's own success flag (the validator trusts the miner's value for its counts). */
  readonly success: boolean;
  /** Unweighted component values, keyed as the reference names them. */
  readonly components: Readonly<Record<string, number>>;
  readonly details: RewardDetails;
  /**
   * Set when the validator's environment would raise on this completion (its env_eval_valid check
   * fails hard): the group should not be uploaded.
   */
  readonly validatorWouldRaise?: boolean;
}

export type RewardDetails =
  | { readonly kind: "answer"; readonly goldAnswer: string; readonly predAnswer: string }
  | {
      readonly kind: "code";
      readonly testsPassed: number;
      readonly testsTotal: number;
      readonly status: string;
      readonly testResults: readonly TestOutcome[];
      readonly hasCode: boolean;
      readonly syntaxValid: boolean;
    };

export interface TestOutcome {
  readonly testIndex: number;
  readonly passed: boolean;
  readonly error: string | null;
}

/** Σ wᵢ·rᵢ accumulated left to right from 0.0, the order the reference adds them in. */
export function weightedSum(values: readonly number[], weights: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += (weights[i] ?? 0) * (values[i] ?? 0);
  return total;
}
