import { sha256 } from "@noble/hashes/sha2.js";
import {
  MAX_SAMPLES_PER_MINER,
  MAX_SAMPLES_PER_MINER_THRESHOLD,
  ROLLOUTS_PER_PROBLEM,
  SAMPLE_RATE,
} from "./constants.js";
import { ProtocolViolationError } from "./errors.js";
import { bytesToHex, utf8 } from "./hex.js";
import { PyRandom } from "./pyrandom.js";
import { parsePythonJson, pythonFloatRepr, pythonJsonDumpsSorted, pythonJsonString } from "./python-json.js";
import type { CommitRecord, RolloutRecord } from "./rollout.js";

/**
 * Which rollouts the validator checks (spec §7.3), as `_determine_rollouts_to_check` in the
 * reference's grail/validation/miner_validator.py does it: groups ordered by a digest of their
 * commits, then `random.Random(seed).sample`, seeded from hotkey and window_rand.
 */

/** The most groups the validator samples: 64 rollouts of 16. */
export const MAX_SAMPLED_GROUPS = Math.floor(MAX_SAMPLES_PER_MINER / ROLLOUTS_PER_PROBLEM);

function int(value: number, field: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new ProtocolViolationError(`commit ${field} must be an integer (an int column), got ${value}`, {
      field,
      value,
    });
  }
  return value + 0;
}

const ints = (xs: ArrayLike<number>, field: string): string =>
  Array.prototype.map.call(xs, (x: number) => int(x, field)).join(",");
const floats = (xs: ArrayLike<number>): string => Array.prototype.map.call(xs, pythonFloatRepr).join(",");

/**
 * The commitments column exactly as Python's default `json.dumps` writes integer sketches
 * (`pythonCommitmentsJson`); each literal is already in canonical form (no `-0`, within CPython's
 * 4300-digit int limit).
 */
const PYTHON_COMMITMENTS = /^\[(?:\{"sketch": (?:0|-?[1-9][0-9]{0,4299})\}(?:, (?=\{)|(?=\])))*\]$/;

/** The commitments column re-serialised; the form miners write without a general parse. */
function commitmentsJson(text: string): string {
  if (PYTHON_COMMITMENTS.test(text))
    return text.replaceAll('{"sketch": ', '{"sketch":').replaceAll("}, {", "},{");
  return pythonJsonDumpsSorted(parsePythonJson(text));
}

/**
 * `json.dumps(commit, sort_keys=True, separators=(",", ":"))` of a row's commit as the reference
 * reads it back (`_convert_row_to_inference`): the JSON columns decoded with `json.loads`, every
 * other value of its §6.4 column type (float64/float32 → float, int32 → int). The reference takes
 * the types from the file's own schema, which records do not carry: a file storing, say,
 * total_reward as an integer column would hash differently there. Throws PythonJsonError where
 * `json.loads` would raise.
 */
export function referenceCommitJson(commit: CommitRecord): string {
  const { model, rollout } = commit;
  return (
    `{"beacon":${pythonJsonDumpsSorted(parsePythonJson(commit.beacon))}` +
    `,"commitments":${commitmentsJson(commit.commitments)}` +
    `,"model":{"layer_index":${int(model.layer_index, "model.layer_index")},"name":${pythonJsonString(model.name)}}` +
    `,"proof_version":${pythonJsonString(commit.proof_version)}` +
    `,"rollout":{"advantage":${pythonFloatRepr(rollout.advantage)}` +
    `,"completion_length":${int(rollout.completion_length, "rollout.completion_length")}` +
    `,"prompt_length":${int(rollout.prompt_length, "rollout.prompt_length")}` +
    `,"success":${rollout.success ? "true" : "false"}` +
    `,"token_logprobs":[${floats(rollout.token_logprobs)}]` +
    `,"total_reward":${pythonFloatRepr(rollout.total_reward)}}` +
    `,"signature":${pythonJsonString(commit.signature)}` +
    `,"tokens":[${ints(commit.tokens, "tokens")}]}`
  );
}

/** `_group_digest`: SHA-256 over the SHA-256 of each member's commit JSON, members in file order. */
export function groupCommitDigest(commits: readonly CommitRecord[]): string {
  const outer = sha256.create();
  for (const c of commits) outer.update(sha256(utf8(referenceCommitJson(c))));
  return bytesToHex(outer.digest());
}

/** `max(1, min(G, int(G · 0.10)))` groups, capped at `maxGroups` (64 // 16 = 4). */
export function validatorSampleSize(groupCount: number, maxGroups = MAX_SAMPLED_GROUPS): number {
  if (!Number.isSafeInteger(groupCount) || groupCount < 1) {
    throw new ProtocolViolationError(`the sample needs at least one group, got ${groupCount}`, {
      groupCount,
    });
  }
  return Math.min(Math.max(1, Math.min(groupCount, Math.floor(groupCount * SAMPLE_RATE))), maxGroups);
}

/** `random.Random(int.from_bytes(sha256(f"{hotkey}:{window_rand}")[:8], "big"))`. */
export function validatorSampleRng(hotkey: string, windowRand: string): PyRandom {
  const digest = sha256(utf8(`${hotkey}:${windowRand}`));
  return PyRandom.fromInt(new DataView(digest.buffer, digest.byteOffset, 8).getBigUint64(0));
}

export interface GroupDigest {
  group: number;
  /** `_group_digest` of the group, lowercase hex. */
  digest: string;
}

/**
 * The sampled groups in draw order, from each group's digest; `groups` in the order the groups
 * first appear in the file, which decides between equal digests (Python's sort is stable).
 */
export function sampleGroupsByDigest(
  hotkey: string,
  windowRand: string,
  groups: readonly GroupDigest[],
  maxGroups = MAX_SAMPLED_GROUPS,
): number[] {
  const count = validatorSampleSize(groups.length, maxGroups);
  // Array.prototype.sort is stable; hex strings of one length compare like their bytes.
  const ordered = [...groups].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return validatorSampleRng(hotkey, windowRand)
    .sample(ordered.length, count)
    .map((i) => ordered[i]!.group);
}

/**
 * The groups whose rollouts the validator checks: every group of a file of at most 20 rows (in
 * file order), else the sample in draw order.
 */
export function validatorSampledGroups(
  hotkey: string,
  windowRand: string,
  rows: readonly Pick<RolloutRecord, "rollout_group" | "commit">[],
  maxGroups = MAX_SAMPLED_GROUPS,
): number[] {
  const members = new Map<number, CommitRecord[]>();
  for (const r of rows) {
    const list = members.get(r.rollout_group);
    if (list) list.push(r.commit);
    else members.set(r.rollout_group, [r.commit]);
  }
  if (rows.length <= MAX_SAMPLES_PER_MINER_THRESHOLD) return [...members.keys()];
  const digests = [...members].map(([group, commits]) => ({ group, digest: groupCommitDigest(commits) }));
  return sampleGroupsByDigest(hotkey, windowRand, digests, maxGroups);
}
