import type { Logger } from "@grail/log";
import type { MinerMetrics } from "@grail/metrics";
import type { HotkeySigner } from "../pool/types.js";
import type { BudgetSettings } from "./budget.js";
import type {
  CheckpointSource,
  EnvironmentFactory,
  MiningChain,
  MiningTokenizer,
  RandomnessSource,
  StartBackends,
} from "./ports.js";
import type { ProgressReporter } from "./watchdog.js";
import type { SchedulerSettings, WindowRunSummary } from "./window-run-types.js";
import type { WindowSink, WindowUploadOutcome } from "./window-sink.js";

export interface EngineSettings extends SchedulerSettings, BudgetSettings {
  /** Pause before retrying a window after an unexpected error. Default 10 s (the reference's). */
  retryDelayMs?: number;
}

export interface MiningEngineDeps {
  chain: MiningChain;
  randomness: RandomnessSource;
  checkpoints: CheckpointSource;
  startBackends: StartBackends;
  loadTokenizer: (checkpointDir: string) => Promise<MiningTokenizer>;
  environments: EnvironmentFactory;
  sink: WindowSink;
  signer: HotkeySigner;
  metrics: MinerMetrics;
  logger: Logger;
  settings: EngineSettings;
  /** Told when work gets done (a checkpoint load, each batch, each upload) and how each window ended. */
  progress?: ProgressReporter;
  now?: () => number;
}

/** What the progress line and the status endpoint show. */
export interface MiningProgress {
  phase: "starting" | "waiting" | "loading" | "mining" | "uploading" | "stopping" | "stopped";
  window: number | null;
  block: number | null;
  blocksLeft: number | null;
  checkpointWindow: number | null;
  groupsGenerated: number;
  groupsProved: number;
  groupsPackaged: number;
  groupsDropped: number;
  rolloutsPackaged: number;
  /** Packaged rollouts per second over the window so far. */
  rolloutsPerSecond: number;
  upload: "idle" | "writing" | "uploading" | "retrying" | "uploaded" | "failed";
  lastUploadedWindow: number | null;
  windowsMined: number;
}

export interface WindowReport {
  windowStart: number;
  checkpointWindow: number;
  run: WindowRunSummary;
  upload: WindowUploadOutcome | null;
}
