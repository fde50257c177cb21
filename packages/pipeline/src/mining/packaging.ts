import {
  GRAIL_PROOF_VERSION,
  LAYER_INDEX,
  ProtocolViolationError,
  pythonCommitmentsJson,
  type RolloutRecord,
  rolloutBeaconJson,
  rolloutChallenge,
  rolloutNonce,
} from "@grail/protocol";
import type { HotkeySigner } from "../pool/types.js";

/** What is the same for every rollout of a window. */
export interface WindowIdentity {
  windowStart: number;
  /** `0x`-prefixed hash of block windowStart. */
  blockHash: string;
  /** The window's randomness (64 hex, no 0x). */
  randomness: string;
  useDrand: boolean;
  checkpointWindow: number;
  /** The checkpoint's model name, as bound into every commit signature. */
  modelName: string;
}

/** One proved and scored rollout of a group, in rollout-index order. */
export interface PackagingRollout {
  /** Prompt followed by completion ids. */
  tokens: ArrayLike<number>;
  promptLength: number;
  reward: number;
  advantage: number;
  success: boolean;
  /** One sketch per token. */
  sVals: ArrayLike<number>;
  /** One logprob per completion token. */
  logprobs: ArrayLike<number>;
  /** The hotkey's signature over the commit-binding digest. */
  commitSignature: Uint8Array;
}

export interface PackagingGroup {
  /** The problem index: rollout_group, and the base of every nonce. */
  groupIndex: number;
  /** Block read when the group's batch was dispatched. */
  block: number;
  rollouts: readonly PackagingRollout[];
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const encoder = new TextEncoder();

/**
 * One window-file row per rollout (spec/protocol.md §6, miner-pipeline.md §3.10): nonce, challenge
 * and its signature (signed here, by the coordinator's hotkey), commitments JSON with Python's
 * separators, token_logprobs as P zeros then the completion logprobs. This runs once per rollout
 * on the coordinator's thread, so it avoids anything beyond the two strings the file needs.
 */
export function packageGroup(
  window: WindowIdentity,
  group: PackagingGroup,
  signer: HotkeySigner,
  timestampSeconds: number,
): RolloutRecord[] {
  const n = group.rollouts.length;
  const beacon = rolloutBeaconJson(window.randomness);
  return group.rollouts.map((r, i) => {
    const len = r.tokens.length;
    const completion = len - r.promptLength;
    if (r.sVals.length !== len || r.logprobs.length !== completion || completion < 0) {
      throw new ProtocolViolationError(
        `group ${group.groupIndex} rollout ${i}: ${r.sVals.length} sketches and ${r.logprobs.length} logprobs for ${len} tokens with prompt ${r.promptLength}`,
        { group: group.groupIndex, rollout: i },
      );
    }
    const nonce = rolloutNonce(group.groupIndex, i);
    const challenge = rolloutChallenge(window.blockHash, nonce);
    const tokenLogprobs = new Array<number>(len);
    for (let j = 0; j < r.promptLength; j++) tokenLogprobs[j] = 0;
    for (let j = 0; j < completion; j++) tokenLogprobs[r.promptLength + j] = r.logprobs[j]!;
    return {
      window_start: window.windowStart,
      block: group.block,
      nonce,
      block_hash: window.blockHash,
      randomness: window.randomness,
      use_drand: window.useDrand,
      rollout_group: group.groupIndex,
      rollout_index: i,
      total_in_group: n,
      checkpoint_window: window.checkpointWindow,
      commit: {
        tokens: Array.from(r.tokens),
        commitments: pythonCommitmentsJson(r.sVals),
        proof_version: GRAIL_PROOF_VERSION,
        model: { name: window.modelName, layer_index: LAYER_INDEX },
        signature: hex(r.commitSignature),
        beacon,
        rollout: {
          total_reward: r.reward,
          advantage: r.advantage,
          success: r.success,
          token_logprobs: tokenLogprobs,
          prompt_length: r.promptLength,
          completion_length: completion,
        },
      },
      timestamp: timestampSeconds,
      challenge,
      hotkey: signer.ss58,
      signature: hex(signer.sign(encoder.encode(challenge))),
    };
  });
}
