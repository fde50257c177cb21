import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { exportedSeriesNames, METRIC_DEFINITIONS, METRIC_NAMES, type MetricDefinition } from "@grail/metrics";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { dashboardExpressions, metricNamesIn } from "./promql.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const grafana = path.join(repoRoot, "docker/grafana");
const dashboard = JSON.parse(readFileSync(path.join(grafana, "dashboards/grail-miner.json"), "utf8"));

/** The metric a series belongs to: histogram series drop their _bucket/_sum/_count suffix. */
function baseMetric(series: string): string {
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  if (m && METRIC_NAMES.includes(m[1] as string)) return m[1] as string;
  return series;
}

describe("PromQL metric name extraction", () => {
  it("finds metric names and skips functions, aggregators, grouping labels, matchers and variables", () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, stage) (rate(foo_seconds_bucket{instance=~"$instance", stage="proof"}[$__rate_interval])))',
      ),
    ).toEqual(["foo_seconds_bucket"]);
    expect(metricNamesIn("sum(rate(a_total[5m])) by (job) / on (job) group_left b_info")).toEqual([
      "a_total",
      "b_info",
    ]);
    expect(metricNamesIn("rate(x[1h] offset 1d) > bool 1e3 and y unless z")).toEqual(["x", "y", "z"]);
    expect(metricNamesIn('count_values("v", up) or vector(0)')).toEqual(["up"]);
    expect(metricNamesIn("label_values(grail_miner_window, instance)")).toEqual(["grail_miner_window"]);
    expect(metricNamesIn('max_over_time(g{l="a}b"}[5m:1m])')).toEqual(["g"]);
  });

  it("collects targets inside collapsed rows and query variables", () => {
    const d = {
      panels: [
        { targets: [{ expr: "a" }] },
        { type: "row", panels: [{ targets: [{ expr: "rate(b[1m])" }, { refId: "no expr" }] }] },
      ],
      templating: { list: [{ type: "query", query: { query: "label_values(c, x)" } }, { type: "custom" }] },
    };
    expect(dashboardExpressions(d).flatMap(metricNamesIn)).toEqual(["a", "b", "c"]);
  });
});

describe("Grafana dashboard", () => {
  const expressions = dashboardExpressions(dashboard);
  const referenced = [...new Set(expressions.flatMap(metricNamesIn))].sort();

  it("references only metrics the miner exports", () => {
    expect(expressions.length).toBeGreaterThan(20);
    const exported = new Set(exportedSeriesNames());
    const unknown = referenced.filter((name) => !exported.has(name));
    expect(unknown, `not exported by @grail/metrics: ${unknown.join(", ")}`).toEqual([]);
    for (const name of referenced) expect(METRIC_NAMES).toContain(baseMetric(name));
  });

  it("would catch a misspelt metric", () => {
    const broken = structuredClone(dashboard);
    broken.panels.push({ targets: [{ expr: "rate(grail_miner_rollouts_uploded_total[5m])" }] });
    const exported = new Set(exportedSeriesNames());
    const unknown = dashboardExpressions(broken)
      .flatMap(metricNamesIn)
      .filter((name) => !exported.has(name));
    expect(unknown).toEqual(["grail_miner_rollouts_uploded_total"]);
  });

  it("shows the metrics an operator needs first", () => {
    for (const key of [
      "rolloutsUploaded",
      "rolloutsDropped",
      "stageDuration",
      "uploads",
      "proofWorkerUp",
      "generationServerUp",
      "lastUploadedWindowRollouts",
      "drandFallbacks",
    ] as const) {
      expect(referenced.map(baseMetric)).toContain(METRIC_DEFINITIONS[key].name);
    }
  });

  it("groups only by labels the metrics carry", () => {
    const allowed = new Set(["le", "instance", "job"]);
    for (const def of Object.values(METRIC_DEFINITIONS) as MetricDefinition[])
      if (def.label) allowed.add(def.label.name);
    for (const expr of expressions) {
      for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
        for (const label of (m[1] as string).split(",").map((s) => s.trim())) {
          expect(allowed.has(label), `${label} in ${expr}`).toBe(true);
        }
      }
    }
  });

  it("uses the provisioned Prometheus datasource", () => {
    const provisioned = parse(
      readFileSync(path.join(grafana, "provisioning/datasources/prometheus.yml"), "utf8"),
    );
    const uid = provisioned.datasources[0].uid;
    const uids = new Set<string>();
    const visit = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node && typeof node === "object") {
        const ds = (node as { datasource?: { uid?: string } }).datasource;
        if (ds?.uid) uids.add(ds.uid);
        Object.values(node).forEach(visit);
      }
    };
    visit(dashboard);
    expect([...uids]).toEqual([uid]);
    const provider = parse(readFileSync(path.join(grafana, "provisioning/dashboards/grail.yml"), "utf8"));
    expect(provider.providers[0].options.path).toBe("/var/lib/grafana/dashboards");
  });
});
