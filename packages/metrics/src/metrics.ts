import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type Counter as PromCounter,
  type Gauge as PromGauge,
  type Histogram as PromHistogram,
  Registry,
} from "prom-client";
import {
  type CheckpointLoadMethod,
  type DropReason,
  METRIC_DEFINITIONS,
  type MetricDefinition,
  type MetricKey,
  type Stage,
  type UploadResult,
  type WeightSyncOutcome,
} from "./definitions.js";
import { MetricsError, UnsupportedMetricsBackendError } from "./errors.js";
import {
  type CounterHandle,
  counterHandle,
  type GaugeHandle,
  gaugeHandle,
  type HistogramHandle,
  histogramHandle,
  type LabelledCounterHandle,
  type LabelledGaugeHandle,
  type LabelledHistogramHandle,
  labelledCounterHandle,
  labelledGaugeHandle,
  labelledHistogramHandle,
} from "./handles.js";

/** `prometheus` stores and serves every metric; `null` validates and drops (monitoring off). */
export type MetricsBackend = "prometheus" | "null";

/**
 * Every metric the miner records. Property names match the keys of METRIC_DEFINITIONS; each is a
 * small typed handle, e.g. `metrics.rolloutsUploaded.inc(n)`, `metrics.rolloutsDropped.inc("proof_failed", 16)`,
 * `const stop = metrics.stageDuration.startTimer("proof"); …; stop()`, `metrics.proofWorkerUp.set(4, 1)`.
 */
export interface MinerMetrics {
  readonly backend: MetricsBackend;
  readonly rolloutsGenerated: CounterHandle;
  readonly rolloutsProved: CounterHandle;
  readonly rolloutsUploaded: CounterHandle;
  readonly rolloutsDropped: LabelledCounterHandle<DropReason>;
  readonly groupsGenerated: CounterHandle;
  readonly groupsPackaged: CounterHandle;
  readonly groupsDropped: LabelledCounterHandle<DropReason>;
  readonly rolloutReward: HistogramHandle;
  readonly stageDuration: LabelledHistogramHandle<Stage>;
  readonly window: GaugeHandle;
  readonly windowBlocksLeft: GaugeHandle;
  readonly lastUploadedWindow: GaugeHandle;
  readonly lastUploadedWindowRollouts: GaugeHandle;
  readonly emptyWindows: CounterHandle;
  readonly uploads: LabelledCounterHandle<UploadResult>;
  /** Keyed by GPU index (relative to CUDA_VISIBLE_DEVICES, as in the configuration). */
  readonly proofWorkerUp: LabelledGaugeHandle<number>;
  readonly proofWorkerRestarts: LabelledCounterHandle<number>;
  readonly proofWorkerInFlight: LabelledGaugeHandle<number>;
  readonly generationServerUp: GaugeHandle;
  readonly generationServerRestarts: CounterHandle;
  readonly weightSyncs: LabelledCounterHandle<WeightSyncOutcome>;
  readonly checkpointLoads: LabelledCounterHandle<CheckpointLoadMethod>;
  readonly checkpointLoadDuration: LabelledHistogramHandle<CheckpointLoadMethod>;
  readonly chainBlock: GaugeHandle;
  readonly drandFallbacks: CounterHandle;
  /** MIME type of `render()`'s text (the Prometheus text exposition format). */
  readonly contentType: string;
  /** The current values in the Prometheus text format; empty for the null backend. */
  render(): Promise<string>;
}

export interface CreateMetricsOptions {
  /**
   * Which backend records. Accepts GRAIL_MONITORING_BACKEND's values as they come from the
   * configuration; `wandb` is refused with UnsupportedMetricsBackendError.
   */
  readonly backend: MetricsBackend | "wandb";
  /** Labels put on every series, e.g. `{ hotkey, netuid }` when several miners share a Prometheus. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
  /** Also export prom-client's process and Node.js runtime metrics (default true; prometheus only). */
  readonly processMetrics?: boolean;
}

const NULL_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Builds the miner's metrics on a registry of their own (never prom-client's global one). */
export function createMetrics(options: CreateMetricsOptions): MinerMetrics {
  switch (options.backend) {
    case "prometheus":
      return prometheusMetrics(options);
    case "null":
      return nullMetrics();
    case "wandb":
      throw new UnsupportedMetricsBackendError(
        "GRAIL_MONITORING_BACKEND=wandb is not available in this miner (no maintained Weights & Biases client for Node.js); set it to prometheus and scrape /metrics, or to null",
        { backend: options.backend },
      );
    default:
      throw new UnsupportedMetricsBackendError(
        `unknown metrics backend ${JSON.stringify(options.backend)}; use prometheus or null`,
        { backend: options.backend },
      );
  }
}

type Sinks = {
  counter(def: MetricDefinition): PromCounter<string> | null;
  gauge(def: MetricDefinition): PromGauge<string> | null;
  histogram(def: MetricDefinition): PromHistogram<string> | null;
};

function build(backend: MetricsBackend, sinks: Sinks, render: () => Promise<string>, contentType: string) {
  const d = METRIC_DEFINITIONS;
  const counter = (k: MetricKey) => counterHandle(d[k], sinks.counter(d[k]));
  const gauge = (k: MetricKey) => gaugeHandle(d[k], sinks.gauge(d[k]));
  const metrics: MinerMetrics = {
    backend,
    rolloutsGenerated: counter("rolloutsGenerated"),
    rolloutsProved: counter("rolloutsProved"),
    rolloutsUploaded: counter("rolloutsUploaded"),
    rolloutsDropped: labelledCounterHandle(d.rolloutsDropped, sinks.counter(d.rolloutsDropped)),
    groupsGenerated: counter("groupsGenerated"),
    groupsPackaged: counter("groupsPackaged"),
    groupsDropped: labelledCounterHandle(d.groupsDropped, sinks.counter(d.groupsDropped)),
    rolloutReward: histogramHandle(d.rolloutReward, sinks.histogram(d.rolloutReward)),
    stageDuration: labelledHistogramHandle(d.stageDuration, sinks.histogram(d.stageDuration)),
    window: gauge("window"),
    windowBlocksLeft: gauge("windowBlocksLeft"),
    lastUploadedWindow: gauge("lastUploadedWindow"),
    lastUploadedWindowRollouts: gauge("lastUploadedWindowRollouts"),
    emptyWindows: counter("emptyWindows"),
    uploads: labelledCounterHandle(d.uploads, sinks.counter(d.uploads)),
    proofWorkerUp: labelledGaugeHandle(d.proofWorkerUp, sinks.gauge(d.proofWorkerUp)),
    proofWorkerRestarts: labelledCounterHandle(d.proofWorkerRestarts, sinks.counter(d.proofWorkerRestarts)),
    proofWorkerInFlight: labelledGaugeHandle(d.proofWorkerInFlight, sinks.gauge(d.proofWorkerInFlight)),
    generationServerUp: gauge("generationServerUp"),
    generationServerRestarts: counter("generationServerRestarts"),
    weightSyncs: labelledCounterHandle(d.weightSyncs, sinks.counter(d.weightSyncs)),
    checkpointLoads: labelledCounterHandle(d.checkpointLoads, sinks.counter(d.checkpointLoads)),
    checkpointLoadDuration: labelledHistogramHandle(
      d.checkpointLoadDuration,
      sinks.histogram(d.checkpointLoadDuration),
    ),
    chainBlock: gauge("chainBlock"),
    drandFallbacks: counter("drandFallbacks"),
    contentType,
    render,
  };
  return Object.freeze(metrics);
}

function nullMetrics(): MinerMetrics {
  const none = { counter: () => null, gauge: () => null, histogram: () => null };
  return build("null", none, async () => "", NULL_CONTENT_TYPE);
}

function prometheusMetrics(options: CreateMetricsOptions): MinerMetrics {
  const registry = new Registry();
  if (options.defaultLabels) {
    for (const name of Object.keys(options.defaultLabels)) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name) || name.startsWith("__")) {
        throw new MetricsError(
          `default label ${JSON.stringify(name)} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)`,
          { label: name },
        );
      }
    }
    registry.setDefaultLabels({ ...options.defaultLabels });
  }
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  const common = (def: MetricDefinition) => ({
    name: def.name,
    help: def.help,
    labelNames: def.label ? [def.label.name] : [],
    registers: [registry],
  });
  // Closed label sets start at zero so rate() and absent-series alerts work from the first scrape.
  const closedLabels = (def: MetricDefinition) =>
    def.label?.values ? def.label.values.map((v) => ({ [def.label!.name]: v })) : [];
  const sinks: Sinks = {
    counter(def) {
      const c = new Counter(common(def));
      for (const labels of closedLabels(def)) c.inc(labels, 0);
      return c;
    },
    gauge(def) {
      return new Gauge(common(def));
    },
    histogram(def) {
      const h = new Histogram({ ...common(def), buckets: [...(def.buckets ?? [])] });
      for (const labels of closedLabels(def)) h.zero(labels);
      return h;
    },
  };
  return build("prometheus", sinks, () => registry.metrics(), registry.contentType);
}
