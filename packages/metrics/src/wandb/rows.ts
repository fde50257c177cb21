import type { MetricObjectWithValues, MetricValue } from "prom-client";
import { METRIC_DEFINITIONS, METRIC_NAMES } from "../definitions.js";

/** A W&B history row: series name → value. */
export type WandbRow = Record<string, number>;
/** A value as prom-client's JSON carries it; histograms name their _bucket, _sum or _count series. */
type Sample = MetricValue<string> & { metricName?: string };

const MINER_METRICS = new Set(METRIC_NAMES);
const HISTOGRAMS = new Set(
  Object.values(METRIC_DEFINITIONS)
    .filter((d) => d.type === "histogram")
    .map((d) => d.name),
);
const CHAIN_BLOCK = METRIC_DEFINITIONS.chainBlock.name;

/** `name{label="value"}`, as the series reads in a Prometheus scrape; the bare name without labels. */
export function seriesKey(
  name: string,
  labels: Readonly<Record<string, string | number | undefined>>,
): string {
  const parts = Object.entries(labels)
    .filter(([k]) => k !== "le")
    .map(([k, v]) => `${k}="${v}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(",")}}`;
}

/**
 * Turns the registry's current values into W&B rows under the Prometheus names: counters and gauges
 * as they are, histograms as `<name>_count` and `<name>_sum` (running totals) plus `<name>_mean`,
 * the mean of the observations since the previous row (W&B has no rate()). Process metrics and
 * histogram buckets stay on /metrics. `block_number`, the reference's x axis, is the chain height.
 */
export class RowBuilder {
  private readonly previous = new Map<string, { count: number; sum: number }>();

  build(metrics: readonly MetricObjectWithValues<Sample>[]): WandbRow {
    const row: WandbRow = {};
    for (const metric of metrics) {
      if (!MINER_METRICS.has(metric.name)) continue;
      if (!HISTOGRAMS.has(metric.name)) {
        for (const v of metric.values) row[seriesKey(metric.name, v.labels)] = v.value;
        continue;
      }
      const totals = new Map<string, { count: number; sum: number }>();
      for (const v of metric.values) {
        const which = v.metricName;
        if (which !== `${metric.name}_count` && which !== `${metric.name}_sum`) continue;
        const key = seriesKey(metric.name, v.labels);
        const t = totals.get(key) ?? { count: 0, sum: 0 };
        if (which.endsWith("_count")) t.count = v.value;
        else t.sum = v.value;
        totals.set(key, t);
      }
      for (const [key, t] of totals) {
        const labels = key.slice(metric.name.length);
        row[`${metric.name}_count${labels}`] = t.count;
        row[`${metric.name}_sum${labels}`] = t.sum;
        const before = this.previous.get(key) ?? { count: 0, sum: 0 };
        if (t.count > before.count)
          row[`${metric.name}_mean${labels}`] = (t.sum - before.sum) / (t.count - before.count);
        this.previous.set(key, t);
      }
    }
    const block = row[CHAIN_BLOCK];
    if (block !== undefined && block > 0) row.block_number = block;
    return row;
  }
}
