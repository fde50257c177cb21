import type { Logger } from "@grail/log";
import type { DropReason, MinerMetrics } from "@grail/metrics";
import type { HotkeySigner } from "../pool/types.js";
import type { TimeBudget } from "./budget.js";
import type { WindowIdentity } from "./packaging.js";
import type { GenerationPort, MiningChain, MiningEnvironment, MiningTokenizer, ProofPort } from "./ports.js";
import type { WindowTask } from "./sampling.js";
import type { WindowSink } from "./window-sink.js";

export interface SchedulerSettings {
  /** GRAIL_PIPELINE_GROUPS_PER_BATCH: groups (×16 prompts) per generate call. */
  groupsPerBatch: number;
  /**
   * Groups generated but not yet packaged (rewards and proofs running or queued) above which the
   * next generate call waits: the proof side is saturated. Default 2 × groupsPerBatch, i.e. one
   * batch being proved while the next one is generated.
   */
  maxPendingGroups?: number;
  /** Generate calls failing in a row before the window's generation stops. Default 3. */
  maxConsecutiveGenerationFailures?: number;
}

/** Why a window stopped starting batches. */
export type StopReason =
  | "time_budget"
  | "window_rolled_over"
  | "sealed"
  | "stopping"
  | "stale_weights"
  | "generation_failing"
  | "problem_failed"
  | "chain_unavailable";

export interface WindowCounters {
  groupsDispatched: number;
  groupsGenerated: number;
  groupsProved: number;
  groupsPackaged: number;
  rolloutsPackaged: number;
  groupsDropped: number;
  dropped: Partial<Record<DropReason, number>>;
  batches: number;
}

export interface WindowRunSummary extends WindowCounters {
  windowStart: number;
  stopReason: StopReason;
  /** Problem indices dispatched: 0 … nextGroup − 1 (gaps where groups were dropped). */
  nextGroup: number;
  startedAtMs: number;
  sealedAtMs: number;
}

export interface WindowRunInput {
  identity: WindowIdentity;
  /** The directory the generation server must be serving. */
  checkpointDir: string;
  task: WindowTask;
  env: MiningEnvironment;
  tokenizer: MiningTokenizer;
}

export interface WindowRunDeps {
  chain: MiningChain;
  generation: GenerationPort;
  proofs: ProofPort;
  sink: WindowSink;
  signer: HotkeySigner;
  budget: TimeBudget;
  metrics: MinerMetrics;
  logger: Logger;
  settings: SchedulerSettings;
  /** Aborted when the miner is asked to stop: no new batch starts. */
  stopSignal: AbortSignal;
  now?: () => number;
  /** Called after every generate call (watchdog heartbeat, progress). */
  onBatch?: () => void;
  /** Reads the head and feeds the budget's block-time EMA; defaults to chain.currentBlock. */
  readBlock?: () => Promise<number>;
}
