export {
  GroupDroppedError,
  InvalidGroupError,
  PoolClosedError,
  PoolStartError,
  ProofPoolError,
  StaleCheckpointError,
  WorkerFailure,
  WorkerStartError,
} from "./errors.js";
export { physicalGpuId } from "./gpus.js";
export { type PoolEvent, type PoolHealth, ProofPool, type ProofPoolOptions } from "./pool.js";
export { type SubprocessOptions, type SubprocessSpec, SubprocessWorker } from "./subprocess.js";
export { ThreadWorker, type ThreadWorkerOptions } from "./threads.js";
export type { OutgoingRequest, WorkerExit, WorkerTransport } from "./transport.js";
export type {
  EngineKind,
  HotkeySigner,
  PoolModel,
  PoolStats,
  PoolWorkerStats,
  ProofContext,
  ProofGroup,
  ProofRolloutInput,
  ProvedGroup,
  ProvedRollout,
  SlotState,
  Topology,
} from "./types.js";
