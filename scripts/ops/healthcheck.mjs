#!/usr/bin/env node
// Container health check: GET /healthz on the miner's metrics endpoint (GRAIL_PROMETHEUS_HOST and
// _PORT, loopback when bound to every address). Exit 0 healthy, 1 otherwise, with the reason.
const backend = (process.env.GRAIL_MONITORING_BACKEND ?? "").toLowerCase();
if (backend !== "prometheus" && backend !== "wandb") {
  console.error(
    `GRAIL_MONITORING_BACKEND=${backend || "null"}: the miner serves /healthz only with prometheus or wandb; set it to prometheus`,
  );
  process.exit(1);
}
const bound = process.env.GRAIL_PROMETHEUS_HOST ?? "";
const host = bound === "" || bound === "0.0.0.0" || bound === "::" ? "127.0.0.1" : bound;
const port = process.env.GRAIL_PROMETHEUS_PORT || "9464";
const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/healthz`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.text()).trim();
  console.log(`${url} → ${res.status} ${body}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`${url} unreachable: ${err instanceof Error ? (err.cause?.message ?? err.message) : err}`);
  process.exit(1);
}
