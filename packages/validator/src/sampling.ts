import { MAX_SAMPLED_GROUPS, type RolloutRecord, validatorSampledGroups } from "@grail/protocol";
import type { DistributionScope, RolloutSelection } from "./input.js";

export interface SamplingContext {
  hotkey: string;
  challengeRandomness: string;
  /** Row indices by rollout_group, groups in the order they first appear in the file. */
  groupsOf: ReadonlyMap<number, readonly number[]>;
  /** The file's rows: the validator orders groups by a digest of their commits. */
  records: readonly Pick<RolloutRecord, "rollout_group" | "commit">[];
}

const ascending = (groups: Iterable<number>) => [...groups].sort((a, b) => a - b);

/** The validator's samples by cap; sampling hashes every commit of the file, so once per context. */
const samples = new WeakMap<SamplingContext, Map<number, number[]>>();

/** The groups the validator's sampler picks (§7.3), ascending. */
function validatorSample(s: SamplingContext, maxGroups = MAX_SAMPLED_GROUPS): number[] {
  let byCap = samples.get(s);
  if (!byCap) {
    byCap = new Map();
    samples.set(s, byCap);
  }
  let sample = byCap.get(maxGroups);
  if (!sample) {
    sample = ascending(validatorSampledGroups(s.hotkey, s.challengeRandomness, s.records, maxGroups));
    byCap.set(maxGroups, sample);
  }
  return sample;
}

/** §7.3: the groups whose rollouts get the per-rollout checks, ascending. */
export function checkedGroupsOf(selection: RolloutSelection, s: SamplingContext): number[] {
  if (selection.kind === "all") return ascending(s.groupsOf.keys());
  if (selection.kind === "groups") {
    return ascending(new Set(selection.groups)).filter((g) => s.groupsOf.has(g));
  }
  return validatorSample(s, selection.maxGroups);
}

/** The checked groups that get P9: all of them, the validator's sample among them, or none. */
export function distributionGroupsOf(
  scope: DistributionScope,
  checkedGroups: readonly number[],
  s: SamplingContext,
): Set<number> {
  if (scope === "all") return new Set(checkedGroups);
  if (scope === "off") return new Set();
  return new Set(validatorSample(s).filter((g) => checkedGroups.includes(g)));
}
