import {
  CHECKPOINT_LOAD_METHODS,
  createMetrics,
  DROP_REASONS,
  exportedSeriesNames,
  METRIC_DEFINITIONS,
  METRIC_NAMES,
  METRIC_PREFIX,
  MetricLabelError,
  MetricsError,
  MetricValueError,
  type MinerMetrics,
  STAGES,
  UnsupportedMetricsBackendError,
} from "@grail/metrics";
import { describe, expect, it } from "vitest";
import { parseExposition, sampleValue } from "./exposition.js";

const keys = Object.keys(METRIC_DEFINITIONS).sort();

async function scrape(metrics: MinerMetrics) {
  return parseExposition(await metrics.render());
}

describe("metric definitions", () => {
  it("names are unique, prefixed, valid Prometheus names and follow the unit/suffix conventions", () => {
    expect(new Set(METRIC_NAMES).size).toBe(METRIC_NAMES.length);
    for (const def of Object.values(METRIC_DEFINITIONS)) {
      expect(def.name).toMatch(/^[a-z_][a-z0-9_]*$/);
      expect(def.name.startsWith(METRIC_PREFIX)).toBe(true);
      if (def.type === "counter") expect(def.name).toMatch(/_total$/);
      else expect(def.name).not.toMatch(/_total$/);
      if (def.name.includes("duration")) expect(def.name).toMatch(/_seconds$/);
      if (def.type === "histogram") {
        const buckets = def.buckets ?? [];
        expect(buckets.length).toBeGreaterThan(3);
        expect([...buckets].sort((a, b) => a - b)).toEqual(buckets);
      }
    }
  });

  it("covers what the miner reports", () => {
    for (const name of [
      "rollouts_generated_total",
      "rollouts_proved_total",
      "rollouts_uploaded_total",
      "rollouts_dropped_total",
      "groups_generated_total",
      "rollout_reward",
      "stage_duration_seconds",
      "window",
      "window_blocks_left",
      "last_uploaded_window_rollouts",
      "proof_worker_up",
      "proof_worker_restarts_total",
      "proof_worker_in_flight",
      "generation_server_up",
      "generation_server_restarts_total",
      "weight_syncs_total",
      "uploads_total",
      "checkpoint_loads_total",
      "chain_block_height",
      "drand_fallbacks_total",
    ]) {
      expect(METRIC_NAMES).toContain(METRIC_PREFIX + name);
    }
    expect(METRIC_DEFINITIONS.stageDuration.label?.values).toEqual(STAGES);
  });

  it("exportedSeriesNames expands histograms into their three series", () => {
    const series = exportedSeriesNames();
    expect(series).toContain("grail_miner_stage_duration_seconds_bucket");
    expect(series).toContain("grail_miner_stage_duration_seconds_sum");
    expect(series).toContain("grail_miner_stage_duration_seconds_count");
    expect(series).not.toContain("grail_miner_stage_duration_seconds");
    expect(series).toContain("grail_miner_rollouts_uploaded_total");
  });
});

describe("prometheus backend", () => {
  it("registers every definition with its type and help, and nothing of ours beyond them", async () => {
    const metrics = createMetrics({ backend: "prometheus", processMetrics: false });
    expect(
      Object.keys(metrics)
        .filter((k) => k in METRIC_DEFINITIONS)
        .sort(),
    ).toEqual(keys);
    const text = await metrics.render();
    const exp = parseExposition(text);
    for (const def of Object.values(METRIC_DEFINITIONS)) {
      expect(exp.types.get(def.name), def.name).toBe(def.type);
      expect(text).toContain(`# HELP ${def.name} ${def.help}`);
    }
    expect([...exp.types.keys()].sort()).toEqual([...METRIC_NAMES].sort());
    const series = new Set(exportedSeriesNames());
    for (const s of exp.samples) expect(series.has(s.name), s.name).toBe(true);
  });

  it("starts closed label sets at zero so rates exist from the first scrape", async () => {
    const exp = await scrape(createMetrics({ backend: "prometheus", processMetrics: false }));
    for (const reason of DROP_REASONS) {
      expect(sampleValue(exp, "grail_miner_rollouts_dropped_total", { reason })).toBe(0);
      expect(sampleValue(exp, "grail_miner_groups_dropped_total", { reason })).toBe(0);
    }
    for (const stage of STAGES) {
      expect(sampleValue(exp, "grail_miner_stage_duration_seconds_count", { stage })).toBe(0);
    }
    for (const method of CHECKPOINT_LOAD_METHODS) {
      expect(sampleValue(exp, "grail_miner_checkpoint_loads_total", { method })).toBe(0);
    }
    expect(sampleValue(exp, "grail_miner_uploads_total", { result: "failure" })).toBe(0);
  });

  it("records counters, labelled counters, gauges and per-GPU series", async () => {
    const m = createMetrics({ backend: "prometheus", processMetrics: false });
    m.rolloutsGenerated.inc(1152);
    m.rolloutsProved.inc(1136);
    m.rolloutsUploaded.inc(1136);
    m.rolloutsUploaded.inc();
    m.rolloutsDropped.inc("proof_failed", 16);
    m.groupsDropped.inc("proof_failed");
    m.window.set(6_000_030);
    m.windowBlocksLeft.set(12);
    m.windowBlocksLeft.dec(2);
    m.lastUploadedWindowRollouts.set(1136);
    m.uploads.inc("success");
    m.proofWorkerUp.set(4, 1);
    m.proofWorkerUp.set(5, 0);
    m.proofWorkerInFlight.inc(4, 2);
    m.proofWorkerInFlight.dec(4);
    m.proofWorkerRestarts.inc(5);
    m.weightSyncs.inc("synced");
    m.checkpointLoads.inc("delta");
    m.chainBlock.set(6_000_041);
    m.drandFallbacks.inc();
    const exp = await scrape(m);
    expect(sampleValue(exp, "grail_miner_rollouts_generated_total")).toBe(1152);
    expect(sampleValue(exp, "grail_miner_rollouts_uploaded_total")).toBe(1137);
    expect(sampleValue(exp, "grail_miner_rollouts_dropped_total", { reason: "proof_failed" })).toBe(16);
    expect(sampleValue(exp, "grail_miner_rollouts_dropped_total", { reason: "upload_failed" })).toBe(0);
    expect(sampleValue(exp, "grail_miner_groups_dropped_total", { reason: "proof_failed" })).toBe(1);
    expect(sampleValue(exp, "grail_miner_window")).toBe(6_000_030);
    expect(sampleValue(exp, "grail_miner_window_blocks_left")).toBe(10);
    expect(sampleValue(exp, "grail_miner_last_uploaded_window_rollouts")).toBe(1136);
    expect(sampleValue(exp, "grail_miner_uploads_total", { result: "success" })).toBe(1);
    expect(sampleValue(exp, "grail_miner_proof_worker_up", { gpu: "4" })).toBe(1);
    expect(sampleValue(exp, "grail_miner_proof_worker_up", { gpu: "5" })).toBe(0);
    expect(sampleValue(exp, "grail_miner_proof_worker_in_flight", { gpu: "4" })).toBe(1);
    expect(sampleValue(exp, "grail_miner_proof_worker_restarts_total", { gpu: "5" })).toBe(1);
    expect(sampleValue(exp, "grail_miner_weight_syncs_total", { outcome: "synced" })).toBe(1);
    expect(sampleValue(exp, "grail_miner_checkpoint_loads_total", { method: "delta" })).toBe(1);
    expect(sampleValue(exp, "grail_miner_chain_block_height")).toBe(6_000_041);
    expect(sampleValue(exp, "grail_miner_drand_fallbacks_total")).toBe(1);

    m.proofWorkerUp.remove(5);
    const after = await scrape(m);
    expect(after.samples.some((s) => s.name === "grail_miner_proof_worker_up" && s.labels.gpu === "5")).toBe(
      false,
    );
  });

  it("puts observations and timers into the right buckets", async () => {
    const m = createMetrics({ backend: "prometheus", processMetrics: false });
    for (const r of [0, 0.05, 0.7, 1]) m.rolloutReward.observe(r);
    m.stageDuration.observe("proof", 0.3);
    m.checkpointLoadDuration.observe("full", 42);
    const stop = m.stageDuration.startTimer("signing");
    const seconds = stop();
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(stop()).toBe(seconds);
    const exp = await scrape(m);
    const bucket = (le: string) => sampleValue(exp, "grail_miner_rollout_reward_bucket", { le });
    expect(bucket("0")).toBe(1);
    expect(bucket("0.1")).toBe(2);
    expect(bucket("0.7")).toBe(3);
    expect(bucket("1")).toBe(4);
    expect(sampleValue(exp, "grail_miner_rollout_reward_count")).toBe(4);
    expect(sampleValue(exp, "grail_miner_rollout_reward_sum")).toBeCloseTo(1.75, 10);
    expect(
      sampleValue(exp, "grail_miner_stage_duration_seconds_bucket", { stage: "proof", le: "0.25" }),
    ).toBe(0);
    expect(sampleValue(exp, "grail_miner_stage_duration_seconds_bucket", { stage: "proof", le: "0.5" })).toBe(
      1,
    );
    // The second stop() must not have recorded the interval again.
    expect(sampleValue(exp, "grail_miner_stage_duration_seconds_count", { stage: "signing" })).toBe(1);
    expect(sampleValue(exp, "grail_miner_stage_duration_seconds_sum", { stage: "signing" })).toBeCloseTo(
      seconds,
      9,
    );
    expect(sampleValue(exp, "grail_miner_checkpoint_load_duration_seconds_count", { method: "full" })).toBe(
      1,
    );
  });

  it("adds default labels to every series and can include the process metrics", async () => {
    const m = createMetrics({ backend: "prometheus", defaultLabels: { hotkey: "miner", netuid: "81" } });
    m.rolloutsUploaded.inc(3);
    const exp = await scrape(m);
    expect(sampleValue(exp, "grail_miner_rollouts_uploaded_total", { hotkey: "miner", netuid: "81" })).toBe(
      3,
    );
    expect(exp.samples.every((s) => s.labels.hotkey === "miner")).toBe(true);
    expect(exp.types.has("process_cpu_user_seconds_total")).toBe(true);
    expect(() => createMetrics({ backend: "prometheus", defaultLabels: { "bad-name": "x" } })).toThrow(
      MetricsError,
    );
  });

  it("keeps each instance on its own registry", async () => {
    const a = createMetrics({ backend: "prometheus", processMetrics: false });
    const b = createMetrics({ backend: "prometheus", processMetrics: false });
    a.rolloutsProved.inc(7);
    expect(sampleValue(await scrape(b), "grail_miner_rollouts_proved_total")).toBe(0);
    expect(sampleValue(await scrape(a), "grail_miner_rollouts_proved_total")).toBe(7);
  });
});

describe.each(["prometheus", "null"] as const)("input checks (%s backend)", (backend) => {
  const m = createMetrics({ backend, processMetrics: false });

  it("refuses values a metric cannot take", () => {
    expect(() => m.rolloutsUploaded.inc(-1)).toThrow(MetricValueError);
    expect(() => m.rolloutsUploaded.inc(Number.NaN)).toThrow(MetricValueError);
    expect(() => m.rolloutsDropped.inc("proof_failed", -2)).toThrow(/only goes up/);
    expect(() => m.window.set(Number.POSITIVE_INFINITY)).toThrow(MetricValueError);
    expect(() => m.rolloutReward.observe(Number.NaN)).toThrow(MetricValueError);
  });

  it("refuses labels outside the closed sets and GPU indices that are not whole numbers ≥ 0", () => {
    expect(() => m.rolloutsDropped.inc("bored" as never)).toThrow(MetricLabelError);
    expect(() => m.stageDuration.observe("lunch" as never, 1)).toThrow(/stage must be one of generation/);
    expect(() => m.stageDuration.startTimer("lunch" as never)).toThrow(MetricLabelError);
    expect(() => m.proofWorkerUp.set(-1, 1)).toThrow(MetricLabelError);
    expect(() => m.proofWorkerUp.set(1.5, 1)).toThrow(MetricLabelError);
    expect(() => m.proofWorkerRestarts.inc("4" as never)).toThrow(/GPU index/);
  });
});

describe("null backend", () => {
  it("implements the same interface, accepts valid input and renders nothing", async () => {
    const m = createMetrics({ backend: "null" });
    expect(m.backend).toBe("null");
    expect(
      Object.keys(m)
        .filter((k) => k in METRIC_DEFINITIONS)
        .sort(),
    ).toEqual(keys);
    m.rolloutsUploaded.inc(5);
    m.rolloutsDropped.inc("window_closed", 16);
    m.proofWorkerUp.set(4, 1);
    m.proofWorkerUp.remove(4);
    m.window.set(30);
    m.rolloutReward.observe(0.5);
    const stop = m.stageDuration.startTimer("upload");
    expect(stop()).toBeGreaterThanOrEqual(0);
    expect(await m.render()).toBe("");
    expect(m.contentType).toMatch(/^text\/plain/);
  });
});

describe("backend choice", () => {
  it("refuses unknown backends with a message that says what to use", () => {
    expect(() => createMetrics({ backend: "statsd" as never })).toThrow(UnsupportedMetricsBackendError);
    expect(() => createMetrics({ backend: "statsd" as never })).toThrow(/use prometheus, wandb or null/);
  });
});
