export {
  CHECKPOINT_LOAD_METHODS,
  type CheckpointLoadMethod,
  DROP_REASONS,
  type DropReason,
  exportedSeriesNames,
  type LabelDefinition,
  METRIC_DEFINITIONS,
  METRIC_NAMES,
  METRIC_PREFIX,
  type MetricDefinition,
  type MetricKey,
  type MetricType,
  STAGES,
  type Stage,
  UPLOAD_RESULTS,
  type UploadResult,
  WEIGHT_SYNC_OUTCOMES,
  type WeightSyncOutcome,
} from "./definitions.js";
export {
  MetricLabelError,
  MetricsError,
  MetricsServerError,
  MetricValueError,
  UnsupportedMetricsBackendError,
} from "./errors.js";
export type {
  CounterHandle,
  GaugeHandle,
  HistogramHandle,
  LabelledCounterHandle,
  LabelledGaugeHandle,
  LabelledHistogramHandle,
  StopTimer,
} from "./handles.js";
export {
  type CreateMetricsOptions,
  createMetrics,
  type MetricsBackend,
  type MinerMetrics,
} from "./metrics.js";
export {
  DEFAULT_METRICS_HOST,
  DEFAULT_METRICS_PORT,
  type HealthReport,
  type MetricsServer,
  type MetricsServerOptions,
  startMetricsServer,
} from "./server.js";
export type { MonitoringLogger, WandbOptions } from "./wandb/exporter.js";
