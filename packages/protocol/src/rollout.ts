/**
 * The rollout record exactly as it is written to the window's Parquet file
 * (spec/protocol.md §6). Field names are the file's column names, so this type is
 * the single contract between the coordinator that packages rollouts, the storage
 * package that writes and reads them, and the local validator that checks them.
 *
 * int64 columns are JS numbers: every value they carry (blocks, windows, nonces)
 * stays far below 2^53.
 */
export interface RolloutModel {
  name: string;
  /** Always LAYER_INDEX (-1): the last hidden state after the final norm. */
  layer_index: number;
}

export interface RolloutPayload {
  total_reward: number;
  advantage: number;
  success: boolean;
  /** P zeros followed by the C completion logprobs; length P + C (stored as float32). */
  token_logprobs: number[];
  prompt_length: number;
  completion_length: number;
}

export interface CommitRecord {
  /** prompt ‖ completion token ids (int32). */
  tokens: number[];
  /** JSON text of `[{"sketch": N}, …]`, one object per token, Python default separators. */
  commitments: string;
  proof_version: string;
  model: RolloutModel;
  /** sr25519 signature over the commit-binding digest, 128 lowercase hex chars. */
  signature: string;
  /** JSON text of `{"randomness": "<64 hex>"}`. */
  beacon: string;
  rollout: RolloutPayload;
}

export interface RolloutRecord {
  window_start: number;
  block: number;
  nonce: number;
  /** "0x" + 64 lowercase hex: the hash of block `window_start`. */
  block_hash: string;
  randomness: string;
  use_drand: boolean;
  rollout_group: number;
  rollout_index: number;
  total_in_group: number;
  checkpoint_window: number;
  commit: CommitRecord;
  /** Unix seconds when the rollout was packaged. */
  timestamp: number;
  challenge: string;
  hotkey: string;
  /** sr25519 signature over UTF-8(challenge), 128 lowercase hex chars. */
  signature: string;
}

/** File-level key/value metadata of a window file; every value is a string. */
export interface WindowFileMetadata {
  wallet: string;
  window_start: string;
  window_length: string;
  inference_count: string;
  timestamp: string;
}
