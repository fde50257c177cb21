import { createHash } from "node:crypto";
import { MAX_SAMPLES_PER_MINER_THRESHOLD, PyRandom } from "@grail/protocol";
import type { DistributionScope, RolloutSelection } from "./input.js";

/** The groups the validator's sampler would pick (§7.3): seeded from hotkey and window_rand. */
export function validatorSampleGroups(
  hotkey: string,
  challengeRandomness: string,
  groups: readonly number[],
  rows: number,
  maxGroups = 4,
): number[] {
  const sorted = [...groups].sort((a, b) => a - b);
  if (rows <= MAX_SAMPLES_PER_MINER_THRESHOLD) return sorted;
  const count = Math.max(1, Math.min(sorted.length, Math.floor(0.1 * sorted.length), maxGroups));
  const digest = createHash("sha256").update(`${hotkey}:${challengeRandomness}`).digest();
  const rng = PyRandom.fromInt(digest.readBigUInt64BE(0));
  return rng
    .sample(sorted.length, count)
    .map((i) => sorted[i]!)
    .sort((a, b) => a - b);
}

export interface SamplingContext {
  hotkey: string;
  challengeRandomness: string;
  /** Row indices by rollout_group. */
  groupsOf: ReadonlyMap<number, readonly number[]>;
  rows: number;
}

/** §7.3: the groups whose rollouts get the per-rollout checks, ascending. */
export function checkedGroupsOf(selection: RolloutSelection, s: SamplingContext): number[] {
  if (selection.kind === "all") return [...s.groupsOf.keys()].sort((a, b) => a - b);
  if (selection.kind === "groups") {
    return [...new Set(selection.groups)].filter((g) => s.groupsOf.has(g)).sort((a, b) => a - b);
  }
  return validatorSampleGroups(
    s.hotkey,
    s.challengeRandomness,
    [...s.groupsOf.keys()],
    s.rows,
    selection.maxGroups,
  );
}

/** The checked groups that get P9: all of them, the validator's sample among them, or none. */
export function distributionGroupsOf(
  scope: DistributionScope,
  checkedGroups: readonly number[],
  s: SamplingContext,
): Set<number> {
  if (scope === "all") return new Set(checkedGroups);
  if (scope === "off") return new Set();
  return new Set(
    validatorSampleGroups(s.hotkey, s.challengeRandomness, [...s.groupsOf.keys()], s.rows).filter((g) =>
      checkedGroups.includes(g),
    ),
  );
}
