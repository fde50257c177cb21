import type { EngineKind } from "@grail/ipc";
import type { Logger, Verbosity } from "@grail/log";
import type { WorkerEntryPoints } from "@grail/proof-worker/entry-points";
import type { HotkeySigner, PoolModel, Topology } from "./types.js";

export interface ProofPoolOptions {
  /** Proof GPUs relative to the coordinator's CUDA_VISIBLE_DEVICES: one worker each. */
  gpus: readonly number[];
  topology: Topology;
  /** The weights to load at start. */
  model: PoolModel;
  signer: HotkeySigner;
  /** Files workers are started from: workerEntryPoints() of @grail/proof-worker. */
  entryPoints: WorkerEntryPoints;
  /** Engine of every worker unless engineByGpu says otherwise. Default "native". */
  engine?: EngineKind;
  engineByGpu?: Readonly<Record<number, EngineKind>>;
  /** Engine backend; default: the engine's choice (CUDA when available). */
  backend?: "cpu" | "cuda";
  /** CPU backend threads per worker; default all cores. */
  threadsPerWorker?: number;
  /** Engine-specific load options (e.g. the torch worker's attention implementation). */
  engineOptions?: Record<string, unknown>;
  nodePath?: string;
  pythonPath?: string;
  /** Base environment of worker children; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The coordinator's CUDA_VISIBLE_DEVICES; default: the base environment's. */
  cudaVisibleDevices?: string | null;
  /** Batches sent to one worker before it answers; 2 keeps a GPU busy across the IPC round trip. */
  maxInFlightPerWorker?: number;
  /** Attempts per group before it is dropped. Default 2. */
  maxAttempts?: number;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  /** A batch not answered in this time marks its worker as hung. Default 600 s (the reference's). */
  jobTimeoutMs?: number;
  /** Model load (and reload) limit. Default 600 s. */
  startupTimeoutMs?: number;
  helloTimeoutMs?: number;
  /** Delay before the 1st, 2nd, … restart of a worker; the last value repeats. */
  restartBackoffMs?: readonly number[];
  /** More than `count` restarts within `windowMs` disable a GPU. */
  restartLimit?: { count: number; windowMs: number };
  /** Delay before the 1st, 2nd, … new try of a disabled GPU; the last value repeats. */
  reenableBackoffMs?: readonly number[];
  /** Tries of a worker's first start that dies, hangs or answers garbage (not one refusing the model). Default 3. */
  startAttempts?: number;
  /** When subprocess workers cannot start, use in-process workers (the reference's behaviour). Default true. */
  fallbackToInProcess?: boolean;
  /** Recompute each binding from the returned sketches before signing it. Default true. */
  verifyBindings?: boolean;
  shutdownGraceMs?: number;
  logger?: Logger;
  /** Log verbosity of the workers. Default 0. */
  verbosity?: Verbosity;
  maxFrameBytes?: number;
}

/** The values of the options left unset. */
export const DEFAULTS = {
  maxInFlightPerWorker: 2,
  maxAttempts: 2,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 30_000,
  jobTimeoutMs: 600_000,
  startupTimeoutMs: 600_000,
  helloTimeoutMs: 60_000,
  restartBackoffMs: [0, 1_000, 5_000, 15_000] as readonly number[],
  restartLimit: { count: 5, windowMs: 600_000 },
  reenableBackoffMs: [60_000, 300_000, 900_000] as readonly number[],
  startAttempts: 3,
  shutdownGraceMs: 5_000,
};
