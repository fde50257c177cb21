import type { SubtensorClient } from "@grail/chain";
import type { DatasetStore } from "@grail/environments";
import type { GenerationServer, GenerationServerOptions, ProofMemoryReport } from "@grail/generation";
import type { MinerMetrics } from "@grail/metrics";
import type { EngineSettings, MiningEngine, ProofPool, ProofPoolOptions, WindowSink } from "@grail/pipeline";
import type { HealthSettings } from "./health.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** Invalid configuration or GPU layout: fix the settings and start again. */
export const EXIT_CONFIG = 2;

/**
 * Parts a caller may replace: the local network plugs in its own datasets and engine tuning, tests
 * add CPU worker options. Everything left out is built from the configuration.
 */
export interface MinerOverrides {
  datasets?: DatasetStore;
  /** Extra ProofPool options (e.g. `backend: "cpu"`, `threadsPerWorker`, supervision timings). */
  pool?: Partial<ProofPoolOptions>;
  /** Extra GenerationServer options (supervisor timings, client retries). */
  generation?: Partial<Pick<GenerationServerOptions, "supervisor" | "weightSyncTimeoutMs">> & {
    retry?: GenerationServerOptions["client"]["retry"];
  };
  engine?: Partial<EngineSettings>;
  /**
   * The proof engine's memory need for a model (weights + peak activations), which the generation
   * server is lowered by when proof GPUs lie inside its range; default: the engine's own report.
   */
  proofMemoryNeed?: ProofMemoryReport;
  /** Aborting stops the miner as SIGTERM would. */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM handlers (the CLI does; embedded runs do not). Default true. */
  handleSignals?: boolean;
  /** Sees the engine and its backends once built (tests, the local network's status page). */
  onStarted?: (engine: MiningEngine, parts: StartedParts) => void;
  /** Where the live progress line goes (a TTY); none when null. Default: stderr when it is a TTY. */
  progressStream?: NodeJS.WriteStream | null;
  /** Watchdog silence limit (reference: 1800 s). */
  watchdogTimeoutMs?: number;
  /** Windows in a row without an upload before the watchdog exits 1 (default GRAIL_WATCHDOG_WINDOWS). */
  watchdogWindows?: number;
  /** /healthz thresholds (stall, generation failures, failed uploads). */
  health?: Partial<HealthSettings>;
  /**
   * --dry-run: everything but the chain commitment and the upload; the first window with rollouts
   * is kept locally and checked by the local validator, then the miner stops (0 when it passed).
   */
  dryRun?: boolean;
  /** Where the dry run prints what it would have uploaded and the validator's report (default stdout). */
  out?: NodeJS.WritableStream;
}

export interface StartedParts {
  client: SubtensorClient;
  metrics: MinerMetrics;
  sink: WindowSink;
  hotkey: string;
  /** Null in a dry run with an unregistered hotkey. */
  uid: number | null;
  backends: () => { generation: GenerationServer; pool: ProofPool } | null;
}

/** Proof-pool options the settings decide: the torch workers' interpreter and the engine's switches. */
