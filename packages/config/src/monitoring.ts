import type { MonitoringConfig } from "./types.js";

/**
 * Why GRAIL_MONITORING_BACKEND=wandb sends nothing to W&B with these settings (the metrics are then
 * only served for Prometheus); null when it logs to W&B, or when another backend is chosen.
 */
export function wandbOffReason(monitoring: MonitoringConfig): string | null {
  if (monitoring.backend !== "wandb") return null;
  if (monitoring.wandb.mode !== "online") return `WANDB_MODE=${monitoring.wandb.mode}`;
  if (monitoring.wandb.apiKey === null) return "no WANDB_API_KEY";
  return null;
}

/** Where /metrics and /healthz are served (prometheus and wandb), or null when monitoring is off. */
export function metricsAddress(monitoring: MonitoringConfig): string | null {
  if (monitoring.backend === "null") return null;
  const { host, port } = monitoring.prometheus;
  return `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

/** One line saying where the metrics go. */
export function describeMonitoring(monitoring: MonitoringConfig): string {
  const served = `Prometheus /metrics and /healthz on ${metricsAddress(monitoring)}`;
  if (monitoring.backend === "null") return "off (GRAIL_MONITORING_BACKEND=null)";
  if (monitoring.backend === "prometheus") return served;
  const off = wandbOffReason(monitoring);
  if (off !== null) return `W&B off (${off}); ${served}`;
  const { wandb } = monitoring;
  return (
    `W&B run in ${wandb.entity ?? "(the API key's entity)"}/${wandb.project} at ${wandb.baseUrl}, ` +
    `a row every ${monitoring.metricFlushIntervalSeconds} s or ${monitoring.metricBufferSize} updates; ${served}`
  );
}
