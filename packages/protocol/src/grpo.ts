import { GRPO_STD_FLOOR } from "./constants.js";
import { ProtocolViolationError } from "./errors.js";
import { sha256Hex } from "./hex.js";

/**
 * Python 3.12's built-in `sum` over floats, which uses Neumaier's compensated summation;
 * the reference runs on 3.12, so its advantages carry that rounding.
 */
export function pythonSum(values: readonly number[]): number {
  let sum = 0;
  let c = 0;
  for (const x of values) {
    const t = sum + x;
    if (Math.abs(sum) >= Math.abs(x)) c += sum - t + x;
    else c += x - t + sum;
    sum = t;
  }
  return c !== 0 && Number.isFinite(c) ? sum + c : sum;
}

/**
 * GRPO advantages in float64, in the reference's order of operations: mean, population
 * standard deviation floored at 1e−8, then (r − μ)/σ (spec §6.3).
 */
export function grpoAdvantages(rewards: readonly number[]): number[] {
  if (rewards.length === 0) return [];
  rewards.forEach((r, i) => {
    if (typeof r !== "number" || Number.isNaN(r)) {
      throw new ProtocolViolationError(`reward ${i} is not a number: ${r}`, { index: i, reward: r });
    }
  });
  const n = rewards.length;
  const mean = pythonSum(rewards) / n;
  const centered = rewards.map((r) => r - mean);
  const std = Math.sqrt(pythonSum(centered.map((a) => a * a)) / n);
  const denom = Math.max(std, GRPO_STD_FLOOR);
  return centered.map((a) => a / denom);
}

/**
 * SHA-256 hex of `json.dumps(completion, separators=(",", ":"))`: the identity under which
 * validators count unique rollouts and detect copycats (spec §7.6).
 */
export function completionDigest(completionTokens: readonly number[]): string {
  completionTokens.forEach((t, i) => {
    if (!Number.isSafeInteger(t)) {
      throw new ProtocolViolationError(`completion token ${i} is not an integer: ${t}`, {
        index: i,
        token: t,
      });
    }
  });
  return sha256Hex(`[${completionTokens.join(",")}]`);
}
