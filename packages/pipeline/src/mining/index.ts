export { type BlockObservation, type BudgetSettings, EMA_ALPHA, Ema, TimeBudget } from "./budget.js";
export {
  type EngineSettings,
  MiningEngine,
  type MiningEngineDeps,
  type MiningProgress,
  modelNameOf,
  type WindowReport,
} from "./engine.js";
export { MiningEnvironments, type MiningEnvironmentsOptions } from "./environments.js";
export {
  FatalMiningError,
  MiningError,
  PipelineInitError,
  WindowSkippedError,
  type WindowSkipReason,
} from "./errors.js";
export {
  type BoxSummary,
  type LayoutSearchOptions,
  type RankedLayout,
  SEARCH_GROUPS_PER_BATCH,
  searchLayouts,
  summariseBox,
} from "./layout-search.js";
export {
  batchSeconds,
  type GenerationRates,
  generationRate,
  type Layout,
  LayoutError,
  layoutGpus,
  type Recommendation,
  rankLayouts,
  referenceA100Rates,
  type StageRates,
  simulateWindows,
  type WindowPrediction,
} from "./layout-sim.js";
export { monitorBackends, type PoolEventSource, type ServerEventSource } from "./monitor.js";
export {
  type PackagingGroup,
  type PackagingRollout,
  packageGroup,
  type WindowIdentity,
} from "./packaging.js";
export { classifyWindowError, type ErrorAction } from "./policy.js";
export type {
  Backends,
  CheckpointSource,
  EnvironmentFactory,
  GenerationPort,
  MiningChain,
  MiningEnvironment,
  MiningTokenizer,
  ProofPort,
  RandomnessSource,
  StartBackends,
  WindowRandomnessValue,
} from "./ports.js";
export { samplingPolicyFromMetadata, type WindowTask, windowTaskFromMetadata } from "./sampling.js";
export {
  type ProgressReporter,
  type Stall,
  WATCHDOG_DEFAULTS,
  Watchdog,
  type WatchdogOptions,
  type WindowOutcome,
} from "./watchdog.js";
export {
  type SchedulerSettings,
  type StopReason,
  type WindowCounters,
  WindowRun,
  type WindowRunDeps,
  type WindowRunInput,
  type WindowRunSummary,
} from "./window-run.js";
export {
  SpoolingWindowSink,
  type SpoolingWindowSinkOptions,
  type WindowSink,
  type WindowUploadOutcome,
} from "./window-sink.js";
export {
  WindowFileWriter,
  WindowWriteError,
  type WrittenWindowFile,
  writerThreadPath,
} from "./window-writer.js";
