/**
 * The one definition of every metric the miner exports: name, type, help text, label and buckets.
 * Dashboards, alert rules and the W&B mapping (if one is added) must use these names; a test checks
 * the Grafana dashboard against METRIC_NAMES.
 */

/** Why rollouts (or whole groups) were thrown away instead of uploaded. */
export const DROP_REASONS = [
  /** The generation server failed or returned malformed output for the batch. */
  "generation_failed",
  /** prompt_len + max_new_tokens exceeded the context; the prompt was skipped, never truncated. */
  "context_overflow",
  /** Reward or advantage computation failed (e.g. the code sandbox crashed). */
  "reward_failed",
  /** A proof of the group failed or came back inconsistent: the group is dropped whole. */
  "proof_failed",
  /** The hotkey signer refused or failed. */
  "signing_failed",
  /** Generated with weights other than the window's checkpoint. */
  "stale_checkpoint",
  /** Finished too late for the window's upload deadline. */
  "window_closed",
  /** The window file could not be uploaded; its rollouts never reached validators. */
  "upload_failed",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Stages of a rollout's way from prompt to bucket, each timed by `stageDuration`. */
export const STAGES = ["generation", "reward", "proof", "signing", "packaging", "upload"] as const;
export type Stage = (typeof STAGES)[number];

/** How a checkpoint reached the local cache (see @grail/storage's checkpoint consumer). */
export const CHECKPOINT_LOAD_METHODS = ["cached", "delta", "full", "mirror"] as const;
export type CheckpointLoadMethod = (typeof CHECKPOINT_LOAD_METHODS)[number];

export const UPLOAD_RESULTS = ["success", "failure"] as const;
export type UploadResult = (typeof UPLOAD_RESULTS)[number];

/** In-place reload, fallback restart on the new checkpoint, or both failed (generation disabled). */
export const WEIGHT_SYNC_OUTCOMES = ["synced", "restarted", "failed"] as const;
export type WeightSyncOutcome = (typeof WEIGHT_SYNC_OUTCOMES)[number];

export type MetricType = "counter" | "gauge" | "histogram";

/** A label whose values are a closed set, or `gpu` (a GPU index relative to CUDA_VISIBLE_DEVICES). */
export interface LabelDefinition {
  readonly name: string;
  /** Allowed values; null for `gpu`, which takes any whole number ≥ 0. */
  readonly values: readonly string[] | null;
}

export interface MetricDefinition {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly label?: LabelDefinition;
  /** Histogram bucket upper bounds (seconds for durations). */
  readonly buckets?: readonly number[];
}

export const METRIC_PREFIX = "grail_miner_";

/** Stage latencies run from milliseconds (signing a batch) to minutes (a large generate call, an upload). */
const STAGE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300] as const;
/** Checkpoint loads: a cache hit is sub-second, a FULL download of a 7B model several minutes. */
const CHECKPOINT_BUCKETS = [0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1200] as const;
/** The environments' rewards are weighted sums of components in [0, 1]. */
const REWARD_BUCKETS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] as const;

const reason: LabelDefinition = { name: "reason", values: DROP_REASONS };
const gpu: LabelDefinition = { name: "gpu", values: null };

const counter = (name: string, help: string, label?: LabelDefinition): MetricDefinition => ({
  name: METRIC_PREFIX + name,
  type: "counter",
  help,
  ...(label ? { label } : {}),
});
const gauge = (name: string, help: string, label?: LabelDefinition): MetricDefinition => ({
  name: METRIC_PREFIX + name,
  type: "gauge",
  help,
  ...(label ? { label } : {}),
});
const histogram = (
  name: string,
  help: string,
  buckets: readonly number[],
  label?: LabelDefinition,
): MetricDefinition => ({
  name: METRIC_PREFIX + name,
  type: "histogram",
  help,
  buckets,
  ...(label ? { label } : {}),
});

/** Keyed by the MinerMetrics property that records it. */
export const METRIC_DEFINITIONS = {
  rolloutsGenerated: counter("rollouts_generated_total", "Completions returned by the generation server"),
  rolloutsProved: counter("rollouts_proved_total", "Rollouts whose proof came back from a proof worker"),
  rolloutsUploaded: counter("rollouts_uploaded_total", "Rollouts in window files that were uploaded"),
  rolloutsDropped: counter("rollouts_dropped_total", "Rollouts thrown away, by reason", reason),
  groupsGenerated: counter("groups_generated_total", "GRPO groups (16 completions) generated"),
  groupsPackaged: counter("groups_packaged_total", "GRPO groups proved, signed and written to a window file"),
  groupsDropped: counter("groups_dropped_total", "GRPO groups dropped whole, by reason", reason),
  rolloutReward: histogram("rollout_reward", "Reward of each generated rollout", REWARD_BUCKETS),
  stageDuration: histogram(
    "stage_duration_seconds",
    "Seconds per stage: a generate call, a group's rewards, a proof batch, a signing batch, a window file, a window upload",
    STAGE_BUCKETS,
    { name: "stage", values: STAGES },
  ),
  window: gauge("window", "Start block of the window being mined"),
  windowBlocksLeft: gauge("window_blocks_left", "Blocks left in the window being mined"),
  lastUploadedWindow: gauge("last_uploaded_window", "Start block of the last window uploaded"),
  lastUploadedWindowRollouts: gauge(
    "last_uploaded_window_rollouts",
    "Rollouts in the last window file uploaded",
  ),
  emptyWindows: counter("empty_windows_total", "Windows that ended with no rollout to upload"),
  uploads: counter("uploads_total", "Window uploads, by result", {
    name: "result",
    values: UPLOAD_RESULTS,
  }),
  proofWorkerUp: gauge("proof_worker_up", "1 when the proof worker on this GPU is ready, else 0", gpu),
  proofWorkerRestarts: counter("proof_worker_restarts_total", "Proof worker restarts after a crash", gpu),
  proofWorkerInFlight: gauge(
    "proof_worker_in_flight",
    "Proof jobs dispatched to the worker, not yet returned",
    gpu,
  ),
  generationServerUp: gauge("generation_server_up", "1 when the generation server answers, else 0"),
  generationServerRestarts: counter(
    "generation_server_restarts_total",
    "Generation server restarts (crash or failed weight sync)",
  ),
  weightSyncs: counter(
    "weight_syncs_total",
    "Generation server weight syncs to a new checkpoint, by outcome",
    {
      name: "outcome",
      values: WEIGHT_SYNC_OUTCOMES,
    },
  ),
  checkpointLoads: counter("checkpoint_loads_total", "Checkpoints made ready locally, by method", {
    name: "method",
    values: CHECKPOINT_LOAD_METHODS,
  }),
  checkpointLoadDuration: histogram(
    "checkpoint_load_duration_seconds",
    "Seconds to make a checkpoint ready locally, by method",
    CHECKPOINT_BUCKETS,
    { name: "method", values: CHECKPOINT_LOAD_METHODS },
  ),
  chainBlock: gauge("chain_block_height", "Latest block seen on the chain"),
  drandFallbacks: counter(
    "drand_fallbacks_total",
    "Windows whose randomness fell back to the block hash because drand failed",
  ),
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRIC_DEFINITIONS;

/** Every metric name the miner exports (histograms add the _bucket, _sum and _count series). */
export const METRIC_NAMES: readonly string[] = Object.freeze(
  Object.values(METRIC_DEFINITIONS).map((d) => d.name),
);

/**
 * The series names a scrape can contain for the miner's metrics: counters and gauges under their
 * name, histograms as `<name>_bucket`, `<name>_sum` and `<name>_count`.
 */
export function exportedSeriesNames(): string[] {
  return Object.values(METRIC_DEFINITIONS).flatMap((d: MetricDefinition) =>
    d.type === "histogram" ? [`${d.name}_bucket`, `${d.name}_sum`, `${d.name}_count`] : [d.name],
  );
}
