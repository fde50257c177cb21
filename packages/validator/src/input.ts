/** What `validateWindowFile` is given: the window file, the chain's values and the checkpoint it loads. */
import type { EnvironmentFactory, MiningTokenizer } from "@grail/pipeline";
import type { CheckpointMetadata } from "@grail/storage";

/** The engine operations the validator recomputes with (a ProofModel from @grail/engine-native). */
export interface ValidatorModel {
  readonly info: { vocabSize: number; maxPositionEmbeddings: number };
  prove(
    batch: readonly { tokens: readonly number[]; promptLen: number }[],
    randomnessHex: string,
  ): Promise<{ sVals: Uint32Array; logprobs: Float32Array; eosProb: number }[]>;
  lastLogits(sequences: readonly (readonly number[])[]): Promise<Float32Array[]>;
}

export interface ValidatorTokenizer extends MiningTokenizer {
  readonly eosTokenId: number | null;
}

/** The trainer checkpoint the validator selected for the window, loaded. */
export interface LoadedCheckpoint {
  window: number;
  metadata: CheckpointMetadata;
  model: ValidatorModel;
  tokenizer: ValidatorTokenizer;
}

/** Which rollouts get the per-rollout checks. */
export type RolloutSelection =
  /** Every rollout (a miner must pass any sample, so this is the default). */
  | { kind: "all" }
  /** The validator's rule: files of ≤ 20 rows entirely, else up to `maxGroups` groups drawn from window_rand. */
  | { kind: "validator"; maxGroups?: number }
  /** These rollout_group values only (debugging one group). */
  | { kind: "groups"; groups: readonly number[] };

export interface WindowFileInput {
  bytes: Uint8Array;
  /** Object size as listed (the compressed size for a .gz object); default the byte count. */
  size?: number;
  /** S3 LastModified; null when unknown (a local file). */
  lastModified: Date | null;
  /** Where the bytes came from (for the report). */
  source: string;
}

export interface WindowValidationInput {
  /** SS58 hotkey that owns (uploaded) the file. */
  hotkey: string;
  window: number;
  /** `0x` hash of block `window`, as the validator reads it. */
  blockHash: string;
  /** window_rand (hex) seeding the challenged positions and the sample (§5.5). */
  challengeRandomness: string;
  /** Null: no object at the key. */
  file: WindowFileInput | null;
  /** Upload deadline in Unix seconds; null when it cannot be known (not checked). */
  deadlineSeconds: number | null;
  /** The validator's checkpoint for the window; null when it has none (the window is skipped). */
  loadCheckpoint: () => Promise<LoadedCheckpoint | null>;
  environments: EnvironmentFactory;
  selection?: RolloutSelection;
  /**
   * Which checked rollouts get P9, which needs one forward pass per completion position: every
   * one, the groups the validator's sampler draws (default), or none (reported as not run).
   */
  distribution?: DistributionScope;
  progress?: (message: string) => void;
}

export type DistributionScope = "all" | "sampled" | "off";
