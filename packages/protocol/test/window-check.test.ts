import {
  checkWindowRows,
  combineRandomness,
  GRAIL_PROOF_VERSION,
  grpoAdvantages,
  LAYER_INDEX,
  pythonCommitmentsJson,
  type RolloutRecord,
  rolloutBeaconJson,
  rolloutChallenge,
  rolloutNonce,
  type WindowCheckKind,
  type WindowFileMetadata,
} from "@grail/protocol";
import { describe, expect, test } from "vitest";

const HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const WINDOW = 4999980;
const BLOCK_HASH = `0x${"11".repeat(32)}`;
const RANDOMNESS = combineRandomness(BLOCK_HASH, "a".repeat(64));
const EXPECT = { hotkey: HOTKEY, windowStart: WINDOW, blockHash: BLOCK_HASH, checkpointWindow: 4999920 };
const PROMPT = 10;
const COMPLETION = 40;

function makeRow(group: number, index: number, reward: number, advantage: number): RolloutRecord {
  const tokens = Array.from({ length: PROMPT + COMPLETION }, (_, t) => (t * 31 + group * 7 + index) % 1000);
  const nonce = rolloutNonce(group, index);
  return {
    window_start: WINDOW,
    block: WINDOW + 7,
    nonce,
    block_hash: BLOCK_HASH,
    randomness: RANDOMNESS,
    use_drand: true,
    rollout_group: group,
    rollout_index: index,
    total_in_group: 16,
    checkpoint_window: 4999920,
    commit: {
      tokens,
      commitments: pythonCommitmentsJson(tokens.map((t) => (t * 7919) % 2147483647)),
      proof_version: GRAIL_PROOF_VERSION,
      model: { name: "Qwen/Qwen3-4B", layer_index: LAYER_INDEX },
      signature: "ab".repeat(64),
      beacon: rolloutBeaconJson(RANDOMNESS),
      rollout: {
        total_reward: reward,
        advantage,
        success: reward > 0.5,
        token_logprobs: [...new Array(PROMPT).fill(0), ...new Array(COMPLETION).fill(-0.25)],
        prompt_length: PROMPT,
        completion_length: COMPLETION,
      },
    },
    timestamp: 1712345678.123456,
    challenge: rolloutChallenge(BLOCK_HASH, nonce),
    hotkey: HOTKEY,
    signature: "cd".repeat(64),
  };
}

/** A valid window of `groups` groups with correct GRPO advantages. */
function makeWindow(groups = 2): { rows: RolloutRecord[]; metadata: WindowFileMetadata } {
  const rows: RolloutRecord[] = [];
  for (let g = 0; g < groups; g++) {
    const rewards = Array.from({ length: 16 }, (_, i) => ((i + g) % 3) / 2);
    const adv = grpoAdvantages(rewards);
    for (let i = 0; i < 16; i++) rows.push(makeRow(g, i, rewards[i]!, adv[i]!));
  }
  const metadata: WindowFileMetadata = {
    wallet: HOTKEY,
    window_start: String(WINDOW),
    window_length: "30",
    inference_count: String(rows.length),
    timestamp: "1712345678.123456",
  };
  return { rows, metadata };
}

const kinds = (failures: { check: WindowCheckKind }[]) => [...new Set(failures.map((f) => f.check))];

describe("checkWindowRows", () => {
  test("a valid window passes", () => {
    const { rows, metadata } = makeWindow(3);
    expect(checkWindowRows(rows, metadata, { ...EXPECT, maxTokens: 2048, vocabSize: 151936 })).toEqual([]);
  });

  test("metadata that a validator cannot parse", () => {
    const { rows, metadata } = makeWindow(1);
    const failures = checkWindowRows(
      rows,
      { ...metadata, inference_count: "sixteen", timestamp: "soon" },
      EXPECT,
    );
    expect(failures.map((f) => f.check)).toEqual(["metadata_invalid", "metadata_invalid"]);
    expect(failures[0]!.message).toContain("inference_count");
  });

  test("wallet_mismatch", () => {
    const { rows, metadata } = makeWindow(1);
    const failures = checkWindowRows(rows, { ...metadata, wallet: "5Other" }, EXPECT);
    expect(kinds(failures)).toEqual(["wallet_mismatch"]);
  });

  test("window_mismatch in metadata and in a row", () => {
    const { rows, metadata } = makeWindow(1);
    expect(kinds(checkWindowRows(rows, { ...metadata, window_start: "4999950" }, EXPECT))).toEqual([
      "window_mismatch",
    ]);
    rows[3]!.window_start = WINDOW - 30;
    const failures = checkWindowRows(rows, metadata, EXPECT);
    expect(failures).toEqual([expect.objectContaining({ check: "window_mismatch", row: 3 })]);
  });

  test("rollout_group_missing", () => {
    const { rows, metadata } = makeWindow(1);
    (rows[2] as unknown as { rollout_group: unknown }).rollout_group = null;
    const failures = checkWindowRows(rows, metadata, EXPECT);
    expect(failures).toContainEqual(expect.objectContaining({ check: "rollout_group_missing", row: 2 }));
    expect(kinds(failures)).toContain("invalid_group_size");
  });

  test("block_hash_mismatch", () => {
    const { rows, metadata } = makeWindow(1);
    rows[0]!.block_hash = `0x${"22".repeat(32)}`;
    expect(checkWindowRows(rows, metadata, EXPECT)).toEqual([
      expect.objectContaining({ check: "block_hash_mismatch", row: 0 }),
    ]);
  });

  test("checkpoint_mismatch", () => {
    const { rows, metadata } = makeWindow(1);
    rows[5]!.checkpoint_window = 4999890;
    expect(checkWindowRows(rows, metadata, EXPECT)).toEqual([
      expect.objectContaining({ check: "checkpoint_mismatch", row: 5 }),
    ]);
  });

  test("duplicate_nonce", () => {
    const { rows, metadata } = makeWindow(2);
    rows[20]!.nonce = rows[4]!.nonce;
    const failures = checkWindowRows(rows, metadata, EXPECT);
    expect(failures).toEqual([expect.objectContaining({ check: "duplicate_nonce", row: 20 })]);
    expect(failures[0]!.message).toContain("row 4");
  });

  test("invalid_group_size", () => {
    const { rows, metadata } = makeWindow(2);
    const failures = checkWindowRows(rows.slice(0, 31), metadata, EXPECT);
    expect(failures).toContainEqual(expect.objectContaining({ check: "invalid_group_size", group: 1 }));
  });

  test("schema_invalid: commitments, beacon, lengths and types", () => {
    const { rows, metadata } = makeWindow(1);
    rows[0]!.commit.commitments = rows[0]!.commit.commitments.replace("}]", '}, {"sketch": 1.0}]');
    rows[1]!.commit.beacon = `{"randomness": "${BLOCK_HASH}"}`;
    rows[2]!.commit.rollout.prompt_length = 11;
    (rows[3]!.commit.rollout as unknown as { success: unknown }).success = "yes";
    rows[4]!.commit.tokens = rows[4]!.commit.tokens.slice(0, 20);
    const failures = checkWindowRows(rows, metadata, EXPECT);
    expect(kinds(failures)).toEqual(["schema_invalid"]);
    expect(new Set(failures.map((f) => f.row))).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(failures.find((f) => f.row === 0)!.message).toContain("not a JSON integer");
    expect(failures.find((f) => f.row === 1)!.message).toContain("without 0x");
  });

  test("tokens_invalid: id outside the vocabulary", () => {
    const { rows, metadata } = makeWindow(1);
    rows[6]!.commit.tokens[12] = 151936;
    expect(checkWindowRows(rows, metadata, { ...EXPECT, vocabSize: 151936 })).toEqual([
      expect.objectContaining({ check: "tokens_invalid", row: 6 }),
    ]);
    expect(checkWindowRows(rows, metadata, EXPECT)).toEqual([]);
  });

  test("proof_invalid: version, layer and short completion", () => {
    const { rows, metadata } = makeWindow(1);
    rows[0]!.commit.proof_version = "v3";
    rows[1]!.commit.model.layer_index = 0;
    const failures = checkWindowRows(rows, metadata, EXPECT);
    expect(failures.map((f) => [f.check, f.row])).toEqual([
      ["proof_invalid", 0],
      ["proof_invalid", 1],
    ]);
  });

  test("termination_invalid: completion longer than max_tokens", () => {
    const { rows, metadata } = makeWindow(1);
    const failures = checkWindowRows(rows, metadata, { ...EXPECT, maxTokens: 39 });
    expect(kinds(failures)).toEqual(["termination_invalid"]);
    expect(failures).toHaveLength(16);
  });

  test("logprobs_invalid", () => {
    const { rows, metadata } = makeWindow(1);
    rows[9]!.commit.rollout.token_logprobs.pop();
    expect(checkWindowRows(rows, metadata, EXPECT)).toEqual([
      expect.objectContaining({ check: "logprobs_invalid", row: 9 }),
    ]);
  });

  test("advantage_sum and advantage_mismatch", () => {
    const { rows, metadata } = makeWindow(2);
    for (const r of rows.slice(16)) r.commit.rollout.advantage += 0.0009;
    rows[0]!.commit.rollout.advantage += 0.002;
    rows[1]!.commit.rollout.advantage -= 0.002;
    const failures = checkWindowRows(rows, metadata, EXPECT);
    expect(failures).toContainEqual(expect.objectContaining({ check: "advantage_sum", group: 1 }));
    expect(failures.filter((f) => f.check === "advantage_mismatch").map((f) => f.row)).toEqual([0, 1]);
    expect(failures.some((f) => f.check === "advantage_sum" && f.group === 0)).toBe(false);
  });
});
