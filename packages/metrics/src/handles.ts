import type { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram } from "prom-client";
import type { LabelDefinition, MetricDefinition } from "./definitions.js";
import { MetricLabelError, MetricValueError } from "./errors.js";

/**
 * Typed recording handles. Each validates its input the same way whether or not a backend stores
 * it, so a caller's bug shows up with the null backend too, not only once Prometheus is switched on.
 */

/** Stops a timer: records the elapsed seconds and returns them. */
export type StopTimer = () => number;

export interface CounterHandle {
  /** Adds n (default 1); n must be a finite number ≥ 0. */
  inc(n?: number): void;
}
export interface LabelledCounterHandle<L extends string | number> {
  inc(label: L, n?: number): void;
}
export interface GaugeHandle {
  set(value: number): void;
  inc(n?: number): void;
  dec(n?: number): void;
}
export interface LabelledGaugeHandle<L extends string | number> {
  set(label: L, value: number): void;
  inc(label: L, n?: number): void;
  dec(label: L, n?: number): void;
  /** Forgets the series (e.g. a proof worker retired for good). */
  remove(label: L): void;
}
export interface HistogramHandle {
  observe(value: number): void;
  startTimer(): StopTimer;
}
export interface LabelledHistogramHandle<L extends string | number> {
  observe(label: L, value: number): void;
  startTimer(label: L): StopTimer;
}

function checkFinite(def: MetricDefinition, value: number, what: string): void {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new MetricValueError(`${def.name}: ${what} must be a finite number, got ${String(value)}`, {
      metric: def.name,
      value,
    });
  }
}

function checkIncrement(def: MetricDefinition, n: number): void {
  checkFinite(def, n, "the increment");
  if (n < 0) {
    throw new MetricValueError(`${def.name}: a counter only goes up; the increment ${n} is negative`, {
      metric: def.name,
      value: n,
    });
  }
}

/** Returns the label as Prometheus stores it, after checking it against the definition. */
function labelValue(def: MetricDefinition, label: string | number): string {
  const spec = def.label as LabelDefinition;
  if (spec.values === null) {
    if (typeof label !== "number" || !Number.isSafeInteger(label) || label < 0) {
      throw new MetricLabelError(
        `${def.name}: ${spec.name} must be a GPU index (a whole number ≥ 0), got ${String(label)}`,
        { metric: def.name, label },
      );
    }
    return String(label);
  }
  if (typeof label !== "string" || !spec.values.includes(label)) {
    throw new MetricLabelError(
      `${def.name}: ${spec.name} must be one of ${spec.values.join(", ")}, got ${String(label)}`,
      { metric: def.name, label, allowed: spec.values },
    );
  }
  return label;
}

function startClock(record: (seconds: number) => void): StopTimer {
  const started = process.hrtime.bigint();
  let stopped: number | null = null;
  return () => {
    // A second stop must not record the same interval twice.
    if (stopped !== null) return stopped;
    stopped = Number(process.hrtime.bigint() - started) / 1e9;
    record(stopped);
    return stopped;
  };
}

export function counterHandle(def: MetricDefinition, sink: PromCounter | null): CounterHandle {
  return {
    inc(n = 1) {
      checkIncrement(def, n);
      sink?.inc(n);
    },
  };
}

export function labelledCounterHandle<L extends string | number>(
  def: MetricDefinition,
  sink: PromCounter<string> | null,
): LabelledCounterHandle<L> {
  const labelName = (def.label as LabelDefinition).name;
  return {
    inc(label, n = 1) {
      const value = labelValue(def, label);
      checkIncrement(def, n);
      sink?.inc({ [labelName]: value }, n);
    },
  };
}

export function gaugeHandle(def: MetricDefinition, sink: PromGauge | null): GaugeHandle {
  return {
    set(value) {
      checkFinite(def, value, "the value");
      sink?.set(value);
    },
    inc(n = 1) {
      checkFinite(def, n, "the increment");
      sink?.inc(n);
    },
    dec(n = 1) {
      checkFinite(def, n, "the decrement");
      sink?.dec(n);
    },
  };
}

export function labelledGaugeHandle<L extends string | number>(
  def: MetricDefinition,
  sink: PromGauge<string> | null,
): LabelledGaugeHandle<L> {
  const labelName = (def.label as LabelDefinition).name;
  return {
    set(label, value) {
      const l = labelValue(def, label);
      checkFinite(def, value, "the value");
      sink?.set({ [labelName]: l }, value);
    },
    inc(label, n = 1) {
      const l = labelValue(def, label);
      checkFinite(def, n, "the increment");
      sink?.inc({ [labelName]: l }, n);
    },
    dec(label, n = 1) {
      const l = labelValue(def, label);
      checkFinite(def, n, "the decrement");
      sink?.dec({ [labelName]: l }, n);
    },
    remove(label) {
      const l = labelValue(def, label);
      sink?.remove({ [labelName]: l });
    },
  };
}

export function histogramHandle(def: MetricDefinition, sink: PromHistogram | null): HistogramHandle {
  const observe = (value: number) => {
    checkFinite(def, value, "the observation");
    sink?.observe(value);
  };
  return { observe, startTimer: () => startClock(observe) };
}

export function labelledHistogramHandle<L extends string | number>(
  def: MetricDefinition,
  sink: PromHistogram<string> | null,
): LabelledHistogramHandle<L> {
  const labelName = (def.label as LabelDefinition).name;
  const observe = (label: L, value: number) => {
    const l = labelValue(def, label);
    checkFinite(def, value, "the observation");
    sink?.observe({ [labelName]: l }, value);
  };
  return {
    observe,
    startTimer(label) {
      labelValue(def, label);
      return startClock((seconds) => observe(label, seconds));
    },
  };
}
