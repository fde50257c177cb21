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
import { WandbExporter, type WandbOptions } from "./wandb/exporter.js";

/**
 * `prometheus` stores every metric for /metrics; `wandb` stores them the same way and also sends
 * them to a W&B run; `null` validates and drops (monitoring off).
 */
export type MetricsBackend = "prometheus" | "wandb" | "null";

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
  /** Sends what is left and finishes the W&B run (wandb); nothing to do for the others. */
  close(): Promise<void>;
}

export interface CreateMetricsOptions {
  /** Which backend records: GRAIL_MONITORING_BACKEND's values. */
  readonly backend: MetricsBackend;
  /** Labels put on every series, e.g. `{ hotkey, netuid }` when several miners share a Prometheus. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
  /** Also export prom-client's process and Node.js runtime metrics (default true; not for null). */
  readonly processMetrics?: boolean;
  /** The W&B run and how often rows go to it; required for `wandb`. */
  readonly wandb?: WandbOptions;
}

const NULL_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Builds the miner's metrics on a registry of their own (never prom-client's global one). */
export function createMetrics(options: CreateMetricsOptions): MinerMetrics {
  switch (options.backend) {
    case "prometheus": {
      const { registry, sinks } = prometheusRegistry(options);
      return build(
        "prometheus",
        sinks,
        () => registry.metrics(),
        registry.contentType,
        async () => {},
      );
    }
    case "wandb":
      return wandbMetrics(options);
    case "null":
      return nullMetrics();
    default:
      throw new UnsupportedMetricsBackendError(
        `unknown metrics backend ${JSON.stringify(options.backend)}; use prometheus, wandb or null`,
        { backend: options.backend },
      );
  }
}

type Sinks = {
  counter(def: MetricDefinition): PromCounter<string> | null;
  gauge(def: MetricDefinition): PromGauge<string> | null;
  histogram(def: MetricDefinition): PromHistogram<string> | null;
};

function build(
  backend: MetricsBackend,
  sinks: Sinks,
  render: () => Promise<string>,
  contentType: string,
  close: () => Promise<void>,
) {
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
    close,
  };
  return Object.freeze(metrics);
}

function nullMetrics(): MinerMetrics {
  const none = { counter: () => null, gauge: () => null, histogram: () => null };
  return build(
    "null",
    none,
    async () => "",
    NULL_CONTENT_TYPE,
    async () => {},
  );
}

/** Prometheus' registry, whose changes also go to a W&B run. */
function wandbMetrics(options: CreateMetricsOptions): MinerMetrics {
  if (!options.wandb) {
    throw new MetricsError(
      "the wandb backend needs its run: pass wandb (API key, project, run name, flush settings)",
      {
        backend: "wandb",
      },
    );
  }
  let exporter: WandbExporter | null = null;
  const { registry, sinks } = prometheusRegistry(options, (counted) => exporter?.note(counted));
  exporter = new WandbExporter(registry, options.wandb);
  const running = exporter;
  return build(
    "wandb",
    sinks,
    () => registry.metrics(),
    registry.contentType,
    () => running.close(),
  );
}

/** Calls `changed` after each update of a metric (true for counters and histograms). */
function watch<T extends object>(
  metric: T,
  methods: readonly string[],
  counted: boolean,
  changed: (c: boolean) => void,
): T {
  const target = metric as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of methods) {
    const original = target[name]!.bind(metric);
    target[name] = (...args: unknown[]) => {
      const result = original(...args);
      changed(counted);
      return result;
    };
  }
  return metric;
}

function prometheusRegistry(options: CreateMetricsOptions, changed?: (counted: boolean) => void) {
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
  const watched = <T extends object>(metric: T, methods: readonly string[], counted: boolean) =>
    changed ? watch(metric, methods, counted, changed) : metric;
  const sinks: Sinks = {
    counter(def) {
      const c = new Counter(common(def));
      for (const labels of closedLabels(def)) c.inc(labels, 0);
      return watched(c, ["inc"], true);
    },
    gauge(def) {
      return watched(new Gauge(common(def)), ["set", "inc", "dec", "remove"], false);
    },
    histogram(def) {
      const h = new Histogram({ ...common(def), buckets: [...(def.buckets ?? [])] });
      for (const labels of closedLabels(def)) h.zero(labels);
      return watched(h, ["observe"], true);
    },
  };
  return { registry, sinks };
}
