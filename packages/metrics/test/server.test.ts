import { createMetrics, type MetricsServer, MetricsServerError, startMetricsServer } from "@grail/metrics";
import { afterEach, describe, expect, it } from "vitest";
import { parseExposition, sampleValue } from "./exposition.js";

const servers: MetricsServer[] = [];
async function serve(options: Parameters<typeof startMetricsServer>[0]) {
  const server = await startMetricsServer({ host: "127.0.0.1", port: 0, ...options });
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const base = (s: MetricsServer) => `http://127.0.0.1:${s.port}`;

describe("metrics server on 127.0.0.1", () => {
  it("serves the current values at /metrics in the Prometheus text format", async () => {
    const metrics = createMetrics({ backend: "prometheus", processMetrics: false });
    const server = await serve({ metrics });
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);

    metrics.rolloutsUploaded.inc(4477);
    metrics.generationServerUp.set(1);
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const exp = parseExposition(await res.text());
    expect(sampleValue(exp, "grail_miner_rollouts_uploaded_total")).toBe(4477);
    expect(sampleValue(exp, "grail_miner_generation_server_up")).toBe(1);

    metrics.rolloutsUploaded.inc(3);
    const again = parseExposition(await (await fetch(`${server.url}?x=1`)).text());
    expect(sampleValue(again, "grail_miner_rollouts_uploaded_total")).toBe(4480);
  });

  it("answers /healthz from the health callback, 200 or 503 with its detail", async () => {
    let healthy = true;
    const server = await serve({
      metrics: createMetrics({ backend: "null" }),
      health: () => ({ healthy, detail: { generationServer: healthy ? "up" : "down", status: "ignored" } }),
    });
    const ok = await fetch(`${base(server)}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ generationServer: "up", status: "ok" });
    healthy = false;
    const bad = await fetch(`${base(server)}/healthz`);
    expect(bad.status).toBe(503);
    expect(await bad.json()).toEqual({ generationServer: "down", status: "unhealthy" });
  });

  it("answers 503 with the reason when the health callback throws", async () => {
    const server = await serve({
      metrics: createMetrics({ backend: "null" }),
      health: () => {
        throw new Error("pool snapshot unavailable");
      },
    });
    const res = await fetch(`${base(server)}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      problems: ["the health check failed: pool snapshot unavailable"],
      status: "unhealthy",
    });
  });

  it("reports healthy without a callback, 404 for other paths, 405 for other methods", async () => {
    const server = await serve({ metrics: createMetrics({ backend: "null" }) });
    expect((await fetch(`${base(server)}/healthz`)).status).toBe(200);
    const head = await fetch(server.url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    expect((await fetch(`${base(server)}/`)).status).toBe(404);
    const post = await fetch(server.url, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("serves an empty but valid body with the null backend", async () => {
    const server = await serve({ metrics: createMetrics({ backend: "null" }) });
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });

  it("answers 500 with the reason when rendering fails", async () => {
    const metrics = createMetrics({ backend: "null" });
    const failing = { ...metrics, render: () => Promise.reject(new Error("registry broke")) };
    const server = await serve({ metrics: failing });
    const res = await fetch(server.url);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain("registry broke");
  });

  it("fails to start with a MetricsServerError naming the setting when the port is taken", async () => {
    const first = await serve({ metrics: createMetrics({ backend: "null" }) });
    const clash = startMetricsServer({
      metrics: createMetrics({ backend: "null" }),
      host: "127.0.0.1",
      port: first.port,
    });
    await expect(clash).rejects.toThrow(MetricsServerError);
    await expect(clash).rejects.toThrow(/GRAIL_PROMETHEUS_PORT/);
    await expect(
      startMetricsServer({ metrics: createMetrics({ backend: "null" }), port: 70000 }),
    ).rejects.toThrow(/0\.\.65535/);
  });

  it("closes even while a client holds a keep-alive connection", async () => {
    const server = await startMetricsServer({
      metrics: createMetrics({ backend: "null" }),
      host: "127.0.0.1",
      port: 0,
    });
    await (await fetch(server.url, { headers: { connection: "keep-alive" } })).text();
    await server.close();
    await expect(fetch(server.url)).rejects.toThrow();
  });
});
