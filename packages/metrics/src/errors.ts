import { GrailError } from "@grail/protocol";

/** Base of every error this package throws; `context` carries what a log line needs. */
export class MetricsError extends GrailError {}

/** A value a metric cannot take (negative count, NaN, infinity): a bug in the caller. */
export class MetricValueError extends MetricsError {}

/** A label value outside the metric's closed set, or a GPU index that is not a whole number ≥ 0. */
export class MetricLabelError extends MetricsError {}

/** A monitoring backend this package does not implement. */
export class UnsupportedMetricsBackendError extends MetricsError {}

/** The /metrics endpoint could not start (bad address, port taken). */
export class MetricsServerError extends MetricsError {}
