import { type MinerConfig, wandbOffReason } from "@grail/config";
import type { Logger } from "@grail/log";
import { createMetrics, type MinerMetrics } from "@grail/metrics";

/**
 * The metrics backend the configuration asks for. wandb sends the metrics to a W&B run named and
 * tagged as the reference names its mining runs; where the settings cannot reach W&B (no API key,
 * WANDB_MODE offline or disabled: the start-up warnings say which) the same metrics are served for
 * Prometheus alone.
 */
export function createMinerMetrics(cfg: MinerConfig, log: Logger): MinerMetrics {
  const { monitoring, wallet } = cfg;
  const { wandb } = monitoring;
  if (monitoring.backend !== "wandb") return createMetrics({ backend: monitoring.backend });
  if (wandbOffReason(monitoring) !== null || wandb.apiKey === null)
    return createMetrics({ backend: "prometheus" });
  return createMetrics({
    backend: "wandb",
    wandb: {
      apiKey: wandb.apiKey,
      baseUrl: wandb.baseUrl,
      project: wandb.project,
      entity: wandb.entity,
      runName: `mining_${wallet.coldkey}`,
      // The Node.js client sets no run tags or notes, so they go into the run's config.
      config: {
        operation_type: "mining",
        wallet_name: wallet.coldkey,
        tags: [...new Set([...wandb.tags, "mining"])],
        ...(wandb.notes === null ? {} : { notes: wandb.notes }),
      },
      bufferSize: monitoring.metricBufferSize,
      flushIntervalMs: monitoring.metricFlushIntervalSeconds * 1000,
      initTimeoutMs: wandb.initTimeoutSeconds * 1000,
      logger: log.child({ component: "wandb" }),
    },
  });
}
