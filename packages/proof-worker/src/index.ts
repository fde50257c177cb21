export {
  type BatchFile,
  BatchFileError,
  type DebugBatch,
  modelNameOf,
  newestCachedCheckpoint,
  readBatchFile,
  type SyntheticOptions,
  syntheticBatch,
  vocabSizeOf,
  writeBatchFile,
} from "./batch-file.js";
export {
  compareRollout,
  LOGPROB_MEDIAN_DEV_LIMIT,
  type ProofValues,
  type RolloutComparison,
  samplePositions,
} from "./compare.js";
export { WorkerCore, type WorkerCoreOptions } from "./core.js";
export { type EngineLoadOptions, type EngineModel, loadNativeModel, type ModelLoader } from "./engine.js";
export { assertWorkerBuilt, type WorkerEntryPoints, workerEntryPoints } from "./entry-points.js";
export { runIpcWorker, WORKER_ENV } from "./ipc-main.js";
export { type IpcWorkerExit, type IpcWorkerOptions, serveIpc } from "./ipc-worker.js";
export { proveBatch } from "./prove-batch.js";
