import { CommitmentsFormatError, parseCommitmentsJson } from "./commitments.js";
import {
  ACCEPTED_PROOF_VERSIONS,
  CHALLENGE_K,
  DEFAULT_MAX_SEQUENCE_LENGTH,
  GRPO_ADV_ELEMENT_TOLERANCE,
  GRPO_ADV_SUM_TOLERANCE,
  LAYER_INDEX,
  MAX_NEW_TOKENS_PROTOCOL_CAP,
  ROLLOUTS_PER_PROBLEM,
} from "./constants.js";
import { grpoAdvantages } from "./grpo.js";
import type { RolloutRecord, WindowFileMetadata } from "./rollout.js";

/** What a validator would refuse, named after the check that refuses it (spec §7.1–§7.5). */
export type WindowCheckKind =
  /** File metadata a validator cannot parse: the file is treated as missing (§6.4). */
  | "metadata_invalid"
  /** Metadata `wallet` is not the uploading hotkey (§7.2 item 6). */
  | "wallet_mismatch"
  /** Metadata or a row names another window (§7.2 items 7–8). */
  | "window_mismatch"
  /** A row has no integer `rollout_group` (§7.1 item 5, §7.2 item 8). */
  | "rollout_group_missing"
  /** A row's `block_hash` is not the hash of the window's first block (§7.2 item 8). */
  | "block_hash_mismatch"
  /** A row's `checkpoint_window` is not the expected checkpoint (§7.4 R1). */
  | "checkpoint_mismatch"
  /** Two rows share a nonce (§7.2 item 9). */
  | "duplicate_nonce"
  /** A group does not have exactly 16 rows (§7.2 item 10, §7.5 G1). */
  | "invalid_group_size"
  /** The commit does not match the schema (§7.4 P1). */
  | "schema_invalid"
  /** Token ids or sequence length outside the model's limits (§7.4 P2). */
  | "tokens_invalid"
  /** proof_version, layer index or completion length the proof check refuses (§7.4 P4). */
  | "proof_invalid"
  /** Completion longer than the checkpoint's max_tokens (§7.4 P5). */
  | "termination_invalid"
  /** token_logprobs not aligned with tokens (§7.4 P8). */
  | "logprobs_invalid"
  /** |Σ advantages| of a group exceeds 0.01 (§7.5 G2). */
  | "advantage_sum"
  /** An advantage differs from the recomputed value by more than 1e−3 (§7.5 G3). */
  | "advantage_mismatch";

export interface WindowCheckFailure {
  check: WindowCheckKind;
  /** Row index in the file, for row-level failures. */
  row?: number;
  /** rollout_group, for group-level failures. */
  group?: number;
  message: string;
}

export interface WindowCheckExpectation {
  /** SS58 hotkey that owns (uploads) the file. */
  hotkey: string;
  windowStart: number;
  /** `0x`-prefixed hash of block `windowStart`. */
  blockHash: string;
  /** Checkpoint window the validator will select; unchecked when absent. */
  checkpointWindow?: number;
  /** Checkpoint `generation_params.max_tokens`; the completion cap is min(this, 8192). */
  maxTokens?: number;
  /** Model vocabulary size; token ids must be below it. Unchecked when absent. */
  vocabSize?: number;
  /** Model's maximum sequence length (default 16384). */
  maxSequenceLength?: number;
}

const PYTHON_INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;
const PYTHON_FLOAT = /^\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)\s*$/i;
const PURE_HEX = /^[0-9a-fA-F]+$/;

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** Schema problems of one commit, as P1 would report them (empty when valid). */
function checkCommitSchema(commit: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(commit)) return ["commit is not an object"];
  const tokens = commit.tokens;
  const tokenCount = Array.isArray(tokens) ? tokens.length : -1;
  if (!Array.isArray(tokens)) problems.push("commit.tokens is not a list");
  else if (!tokens.every(isInt)) problems.push("commit.tokens contains a non-integer");
  else if (tokens.length < CHALLENGE_K)
    problems.push(`commit.tokens has ${tokens.length} < ${CHALLENGE_K} ids`);

  if (typeof commit.commitments !== "string") problems.push("commit.commitments is not a JSON string");
  else {
    try {
      const sketches = parseCommitmentsJson(commit.commitments);
      if (tokenCount >= 0 && sketches.length !== tokenCount) {
        problems.push(`commit.commitments has ${sketches.length} entries for ${tokenCount} tokens`);
      }
    } catch (e) {
      if (!(e instanceof CommitmentsFormatError)) throw e;
      problems.push(e.message);
    }
  }
  if (typeof commit.proof_version !== "string") problems.push("commit.proof_version is not a string");
  if (typeof commit.signature !== "string") problems.push("commit.signature is not a string");

  const model = commit.model;
  if (!isObject(model)) problems.push("commit.model is not an object");
  else {
    if (typeof model.name !== "string") problems.push("commit.model.name is not a string");
    if (!isInt(model.layer_index)) problems.push("commit.model.layer_index is not an integer");
  }

  let randomness: unknown;
  if (typeof commit.beacon !== "string") problems.push("commit.beacon is not a JSON string");
  else {
    try {
      const beacon: unknown = JSON.parse(commit.beacon);
      randomness = isObject(beacon) ? beacon.randomness : undefined;
    } catch {
      problems.push("commit.beacon is not valid JSON");
    }
    if (typeof randomness !== "string" || !PURE_HEX.test(randomness)) {
      problems.push("commit.beacon.randomness must be a non-empty string of hex digits without 0x");
    }
  }

  const rollout = commit.rollout;
  if (!isObject(rollout)) problems.push("commit.rollout is not an object");
  else {
    const { prompt_length: p, completion_length: c } = rollout;
    if (!isInt(p) || p < 0) problems.push("commit.rollout.prompt_length must be an integer >= 0");
    if (!isInt(c) || c <= 0 || c > MAX_NEW_TOKENS_PROTOCOL_CAP) {
      problems.push(
        `commit.rollout.completion_length must be an integer in (0, ${MAX_NEW_TOKENS_PROTOCOL_CAP}]`,
      );
    }
    if (typeof rollout.success !== "boolean") problems.push("commit.rollout.success is not a boolean");
    if (typeof rollout.total_reward !== "number")
      problems.push("commit.rollout.total_reward is not a number");
    if (typeof rollout.advantage !== "number") problems.push("commit.rollout.advantage is not a number");
    const lps = rollout.token_logprobs;
    if (!Array.isArray(lps) || !lps.every((x) => typeof x === "number")) {
      problems.push("commit.rollout.token_logprobs is not a list of numbers");
    }
    if (isInt(p) && isInt(c) && tokenCount >= 0 && p + c !== tokenCount) {
      problems.push(`prompt_length ${p} + completion_length ${c} != ${tokenCount} tokens`);
    }
  }
  return problems;
}

function checkMetadata(
  metadata: WindowFileMetadata | Record<string, string>,
  expect: WindowCheckExpectation,
  failures: WindowCheckFailure[],
): void {
  const md = metadata as Record<string, string | undefined>;
  for (const key of ["window_start", "window_length", "inference_count"]) {
    const v = md[key];
    if (v === undefined || !PYTHON_INT.test(v)) {
      failures.push({
        check: "metadata_invalid",
        message: `metadata ${key}=${JSON.stringify(v)} is not an integer; validators treat the file as missing`,
      });
    }
  }
  const ts = md.timestamp;
  if (ts === undefined || !PYTHON_FLOAT.test(ts)) {
    failures.push({
      check: "metadata_invalid",
      message: `metadata timestamp=${JSON.stringify(ts)} is not a float; validators treat the file as missing`,
    });
  }
  if (md.wallet !== expect.hotkey) {
    failures.push({
      check: "wallet_mismatch",
      message: `metadata wallet ${JSON.stringify(md.wallet)} is not the uploading hotkey ${expect.hotkey}`,
    });
  }
  const ws = md.window_start;
  if (ws !== undefined && PYTHON_INT.test(ws) && Number(ws.replaceAll("_", "")) !== expect.windowStart) {
    failures.push({
      check: "window_mismatch",
      message: `metadata window_start ${ws} is not window ${expect.windowStart}`,
    });
  }
}

/**
 * Everything a validator checks about a window file that needs no model: metadata, every
 * row's identity fields, nonce uniqueness, group sizes, the commit schema and the GRPO
 * arithmetic, over all rows and all groups (validators sample; a miner must pass any sample).
 * Returns every failure found; an empty array means the file passes these checks.
 */
export function checkWindowRows(
  rows: readonly RolloutRecord[],
  metadata: WindowFileMetadata | Record<string, string>,
  expect: WindowCheckExpectation,
): WindowCheckFailure[] {
  const failures: WindowCheckFailure[] = [];
  checkMetadata(metadata, expect, failures);

  const completionCap = Math.min(
    expect.maxTokens ?? MAX_NEW_TOKENS_PROTOCOL_CAP,
    MAX_NEW_TOKENS_PROTOCOL_CAP,
  );
  const maxSeq = expect.maxSequenceLength ?? DEFAULT_MAX_SEQUENCE_LENGTH;
  const nonceRows = new Map<number, number>();
  const groups = new Map<number, number[]>();

  rows.forEach((row, i) => {
    const fail = (check: WindowCheckKind, message: string) => failures.push({ check, row: i, message });
    if (!isInt(row.rollout_group)) {
      fail("rollout_group_missing", `row ${i}: rollout_group ${String(row.rollout_group)} is not an integer`);
    } else {
      const members = groups.get(row.rollout_group) ?? [];
      members.push(i);
      groups.set(row.rollout_group, members);
    }
    if (row.window_start !== expect.windowStart) {
      fail(
        "window_mismatch",
        `row ${i}: window_start ${row.window_start} is not window ${expect.windowStart}`,
      );
    }
    if (row.block_hash !== expect.blockHash) {
      fail("block_hash_mismatch", `row ${i}: block_hash ${row.block_hash} is not ${expect.blockHash}`);
    }
    if (expect.checkpointWindow !== undefined && row.checkpoint_window !== expect.checkpointWindow) {
      fail(
        "checkpoint_mismatch",
        `row ${i}: checkpoint_window ${row.checkpoint_window} is not ${expect.checkpointWindow}`,
      );
    }
    const seen = nonceRows.get(row.nonce);
    if (seen !== undefined)
      fail("duplicate_nonce", `row ${i}: nonce ${row.nonce} already used by row ${seen}`);
    else nonceRows.set(row.nonce, i);

    const problems = checkCommitSchema(row.commit);
    for (const p of problems) fail("schema_invalid", `row ${i}: ${p}`);
    if (problems.length > 0) return;

    const { commit } = row;
    const { tokens } = commit;
    if (tokens.length > maxSeq) fail("tokens_invalid", `row ${i}: ${tokens.length} tokens exceed ${maxSeq}`);
    if (expect.vocabSize !== undefined) {
      const bad = tokens.findIndex((t) => t < 0 || t >= expect.vocabSize!);
      if (bad >= 0) {
        fail(
          "tokens_invalid",
          `row ${i}: token ${tokens[bad]} at ${bad} is outside [0, ${expect.vocabSize})`,
        );
      }
    } else if (tokens.some((t) => t < 0)) {
      fail("tokens_invalid", `row ${i}: negative token id`);
    }
    if (!ACCEPTED_PROOF_VERSIONS.includes(commit.proof_version)) {
      fail("proof_invalid", `row ${i}: proof_version ${JSON.stringify(commit.proof_version)} is not v4/v5`);
    }
    if (commit.model.layer_index !== LAYER_INDEX) {
      fail("proof_invalid", `row ${i}: layer_index ${commit.model.layer_index} is not ${LAYER_INDEX}`);
    }
    const c = commit.rollout.completion_length;
    if (c < CHALLENGE_K) fail("proof_invalid", `row ${i}: completion_length ${c} < ${CHALLENGE_K}`);
    if (c > completionCap) {
      fail("termination_invalid", `row ${i}: completion_length ${c} exceeds max_tokens ${completionCap}`);
    }
    if (commit.rollout.token_logprobs.length !== tokens.length) {
      fail(
        "logprobs_invalid",
        `row ${i}: ${commit.rollout.token_logprobs.length} token_logprobs for ${tokens.length} tokens`,
      );
    }
  });

  for (const [group, members] of groups) {
    if (members.length !== ROLLOUTS_PER_PROBLEM) {
      failures.push({
        check: "invalid_group_size",
        group,
        message: `group ${group} has ${members.length} rows, needs exactly ${ROLLOUTS_PER_PROBLEM}`,
      });
    }
    const payloads = members.map((m) => rows[m]!.commit?.rollout);
    if (
      !payloads.every(
        (p) => isObject(p) && typeof p.total_reward === "number" && typeof p.advantage === "number",
      )
    ) {
      continue; // already reported as schema_invalid
    }
    const advantages = payloads.map((p) => p!.advantage);
    const sum = advantages.reduce((a, b) => a + b, 0);
    if (!(Math.abs(sum) <= GRPO_ADV_SUM_TOLERANCE)) {
      failures.push({
        check: "advantage_sum",
        group,
        message: `group ${group}: advantages sum to ${sum}, |sum| must be <= ${GRPO_ADV_SUM_TOLERANCE}`,
      });
    }
    const expected = grpoAdvantages(payloads.map((p) => p!.total_reward));
    members.forEach((m, j) => {
      const diff = Math.abs(advantages[j]! - expected[j]!);
      if (!(diff <= GRPO_ADV_ELEMENT_TOLERANCE)) {
        failures.push({
          check: "advantage_mismatch",
          row: m,
          group,
          message: `row ${m}: advantage ${advantages[j]} differs from recomputed ${expected[j]} by ${diff}`,
        });
      }
    });
  }
  return failures;
}
