import type { IpcErrorCode } from "./errors.js";

/** Bumped on any incompatible change of frames or messages; exchanged in `hello` and `load`. */
export const IPC_PROTOCOL_VERSION = 1;

/** The child reads requests from this descriptor and writes replies to the next one. */
export const REQUEST_FD = 3;
export const REPLY_FD = 4;

/** Commit-binding and commitments hashes are SHA-256 digests. */
export const HASH_BYTES = 32;

export type EngineKind = "native" | "torch";

// ---- parent → worker ------------------------------------------------------------------------

export interface LoadRequest {
  type: "load";
  id: number;
  protocolVersion: number;
  modelDir: string;
  /** The checkpoint (window) these weights belong to; every proof is tagged with it. */
  checkpointWindow: number;
  /** "cpu" or "cuda"; absent: the engine's default (CUDA when present). */
  backend?: string;
  /** Device index as the worker sees it (0 when the parent pinned it with CUDA_VISIBLE_DEVICES). */
  device?: number;
  /** CPU backend threads; 0 or absent: all cores. */
  threads?: number;
  /** Engine-specific settings (e.g. the torch worker's attention implementation). */
  options?: Record<string, unknown>;
}

export interface ReloadRequest {
  type: "reload";
  id: number;
  modelDir: string;
  checkpointWindow: number;
}

/**
 * A batch of whole groups. Rollout i is tokens[sum(lengths[<i]) … + lengths[i]) with its prompt
 * being the first promptLens[i] tokens; groupSizes splits the rollouts into groups, in order.
 */
export interface ProveRequest {
  type: "prove";
  id: number;
  checkpointWindow: number;
  randomnessHex: string;
  modelName: string;
  layerIndex: number;
  groupSizes: number[];
  tokens: Int32Array;
  lengths: Int32Array;
  promptLens: Int32Array;
}

export interface HealthRequest {
  type: "health";
  id: number;
}

export interface ShutdownRequest {
  type: "shutdown";
  id: number;
}

export type WorkerRequest = LoadRequest | ReloadRequest | ProveRequest | HealthRequest | ShutdownRequest;

// ---- worker → parent ------------------------------------------------------------------------

/** Sent once, unprompted, as soon as the worker can read requests. */
export interface HelloMessage {
  type: "hello";
  protocolVersion: number;
  engine: EngineKind;
  pid: number;
  /** e.g. "node v20.19.0" or "python 3.11.2 torch 2.6.0". */
  runtime: string;
}

export interface ModelSummary {
  modelType: string;
  hiddenSize: number;
  numLayers: number;
  vocabSize: number;
  eosTokenId: number | null;
}

export interface LoadedReply {
  type: "loaded";
  id: number;
  checkpointWindow: number;
  modelDir: string;
  backend: string;
  /** Human-readable device, e.g. "cpu (2 threads)" or "cuda:0 NVIDIA H200". */
  device: string;
  model: ModelSummary;
  elapsedMs: number;
}

export interface ReloadedReply {
  type: "reloaded";
  id: number;
  checkpointWindow: number;
  modelDir: string;
  elapsedMs: number;
}

/**
 * Per rollout, in request order: sVals (one per token, concatenated like the request's tokens),
 * logprobs (one per completion token, concatenated), eosProbs (one each), and 32-byte commitments
 * and commit-binding digests (concatenated).
 */
export interface ProvedReply {
  type: "proved";
  id: number;
  /** The checkpoint of the weights that computed this result. */
  checkpointWindow: number;
  /** Wall time of the request less the worker thread's hashing (which overlaps the device's work). */
  proveMs: number;
  /** Time the worker thread spent copying results and hashing commitments and bindings. */
  hashMs: number;
  totalMs: number;
  sVals: Uint32Array;
  logprobs: Float32Array;
  eosProbs: Float64Array;
  commitmentsHashes: Uint8Array;
  bindingHashes: Uint8Array;
}

export type WorkerState = "empty" | "loading" | "ready" | "failed";

export interface StatusReply {
  type: "status";
  id: number;
  state: WorkerState;
  checkpointWindow: number | null;
  modelDir: string | null;
  /** A load, reload or prove is running. */
  busy: boolean;
  /** Requests waiting behind the running one. */
  queued: number;
  jobsDone: number;
  uptimeMs: number;
  rssBytes: number;
}

export interface ByeReply {
  type: "bye";
  id: number;
}

export interface ErrorReply {
  type: "error";
  /** The request this answers; null when the frame was too broken to name one. */
  id: number | null;
  code: IpcErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export type WorkerReply =
  | HelloMessage
  | LoadedReply
  | ReloadedReply
  | ProvedReply
  | StatusReply
  | ByeReply
  | ErrorReply;

export type WorkerMessage = WorkerRequest | WorkerReply;

/** Builds an error reply. */
export function errorReply(
  id: number | null,
  code: IpcErrorCode,
  message: string,
  details?: Record<string, unknown>,
): ErrorReply {
  return details ? { type: "error", id, code, message, details } : { type: "error", id, code, message };
}
