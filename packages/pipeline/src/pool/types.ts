import type { EngineKind } from "@grail/ipc";

/**
 * The coordinator's hotkey (implemented by the chain package): the only holder of key material.
 * Proof workers never see it; the pool signs each returned commit-binding digest with it.
 */
export interface HotkeySigner {
  readonly ss58: string;
  readonly publicKey: Uint8Array;
  /** sr25519 over the raw bytes; 64 bytes. */
  sign(message: Uint8Array): Uint8Array;
}

/** Worker processes (one per GPU, pinned with CUDA_VISIBLE_DEVICES) or worker threads in this process. */
export type Topology = "subprocess" | "in-process";

export interface ProofRolloutInput {
  /** Prompt followed by completion token ids. */
  tokens: Int32Array | readonly number[];
  promptLen: number;
}

/** One GRPO group: proved and returned whole, or not at all. */
export interface ProofGroup {
  groupId: string;
  rollouts: readonly ProofRolloutInput[];
}

/** What the commit binding and the model selection of a group depend on. */
export interface ProofContext {
  /** The window's randomness (hex), which seeds the sketch coefficients and enters the binding. */
  randomnessHex: string;
  /** The checkpoint's model_name, as written into each rollout's commit. */
  modelName: string;
  /** The checkpoint (window) whose weights generated the group; proofs must use the same weights. */
  checkpointWindow: number;
  /** Always -1 in protocol v5. */
  layerIndex?: number;
}

export interface ProvedRollout {
  /** One sketch per token (prompt and completion). */
  sVals: Uint32Array;
  /** One logprob per completion token. */
  logprobs: Float32Array;
  eosProb: number;
  /** SHA-256 of the canonical commitments JSON. */
  commitmentsHash: Uint8Array;
  /** The commit-binding digest. */
  bindingHash: Uint8Array;
  /** The hotkey's signature over bindingHash (commit.signature). */
  signature: Uint8Array;
}

export interface ProvedGroup {
  groupId: string;
  checkpointWindow: number;
  rollouts: ProvedRollout[];
  /** Which worker proved it (relative GPU index; pid of the process, or of this process in-process). */
  gpu: number;
  pid: number;
  /** 1 unless an earlier attempt failed. */
  attempts: number;
  proveMs: number;
}

export interface PoolModel {
  modelDir: string;
  checkpointWindow: number;
}

export type { EngineKind };

/** Where a worker slot is in its life: up, being (re)started or reloaded, given up on, or shut. */
export type SlotState = "starting" | "ready" | "reloading" | "restarting" | "disabled" | "closed";

export interface PoolWorkerStats {
  gpu: number;
  engine: EngineKind;
  state: SlotState;
  pid: number | null;
  inFlight: number;
  jobsDone: number;
  restarts: number;
}

export interface PoolStats {
  topology: Topology;
  checkpointWindow: number;
  /** Groups accepted and not yet settled (queued or in flight). */
  pending: number;
  proved: number;
  retried: number;
  dropped: number;
  workers: PoolWorkerStats[];
}
