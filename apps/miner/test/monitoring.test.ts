import { PassThrough } from "node:stream";
import { loadConfig } from "@grail/config";
import { createLogger } from "@grail/log";
import { startWandbServer, type WandbServer } from "@grail/metrics/testing";
import { afterEach, describe, expect, test } from "vitest";
import { createMinerMetrics } from "../src/monitoring.js";

/** The monitoring settings as the miner turns them into a metrics backend (W&B thread: build first). */

const servers: WandbServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

function setup(env: Record<string, string>) {
  const cfg = loadConfig({
    env: { HOME: "/home/miner", BT_WALLET_COLD: "cold", ...env },
    envFile: null,
    cwd: "/srv/miner",
    registerSecrets: false,
  });
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c: Buffer) => (text += c.toString()));
  const log = createLogger({ stream, json: true, verbosity: 0 });
  const lines = () =>
    text
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { cfg, log, lines };
}

describe("createMinerMetrics", () => {
  test("GRAIL_METRIC_BUFFER_SIZE and WANDB_* reach the W&B run", async () => {
    const wandb = await startWandbServer();
    servers.push(wandb);
    const { cfg, log } = setup({
      GRAIL_MONITORING_BACKEND: "wandb",
      WANDB_API_KEY: "a".repeat(40),
      WANDB_BASE_URL: wandb.url,
      WANDB_PROJECT: "grail-test",
      WANDB_TAGS: "grail,mining,canary",
      GRAIL_METRIC_BUFFER_SIZE: "2",
      GRAIL_METRIC_FLUSH_INTERVAL: "3600",
    });
    const metrics = createMinerMetrics(cfg, log);
    expect(metrics.backend).toBe("wandb");
    metrics.emptyWindows.inc();
    metrics.emptyWindows.inc(); // the second update fills a buffer of 2
    await wandb.waitFor((c) => c.operation === "file_stream" && c.body.files !== undefined);
    expect(wandb.history()[0]).toMatchObject({ grail_miner_empty_windows_total: 2 });
    await metrics.close();
    const upsert = wandb.calls.find((c) => c.operation === "UpsertBucket");
    // no WANDB_ENTITY: the API key's own entity, as the Viewer query names it
    expect(upsert?.body).toMatchObject({
      project: "grail-test",
      entity: "miner-team",
      displayName: "mining_cold",
    });
    expect(JSON.parse(String(upsert?.body.config))).toEqual({
      operation_type: "mining",
      wallet_name: "cold",
      tags: ["grail", "mining", "canary"],
    });
  });

  test("WANDB_INIT_TIMEOUT bounds the start of the run", async () => {
    const wandb = await startWandbServer({ fault: "hang" });
    servers.push(wandb);
    const { cfg, log, lines } = setup({
      GRAIL_MONITORING_BACKEND: "wandb",
      WANDB_API_KEY: "a".repeat(40),
      WANDB_BASE_URL: wandb.url,
      WANDB_INIT_TIMEOUT: "0.3",
    });
    const metrics = createMinerMetrics(cfg, log);
    await metrics.close(); // waits for the start to settle: here, the timeout
    await log.close();
    expect(
      lines().find(
        (l) =>
          l.msg ===
          "W&B run could not start; nothing goes to W&B, the metrics are still recorded for /metrics",
      ),
    ).toMatchObject({
      level: "warn",
      component: "wandb",
      reason: "it did not start within 0.3 s (WANDB_INIT_TIMEOUT)",
    });
  });

  test("wandb that cannot reach W&B serves the metrics for Prometheus; the other backends are as asked", () => {
    for (const env of [
      {} as Record<string, string>,
      { WANDB_MODE: "offline", WANDB_API_KEY: "k" },
      { WANDB_MODE: "disabled", WANDB_API_KEY: "k" },
    ]) {
      const { cfg, log } = setup({ GRAIL_MONITORING_BACKEND: "wandb", ...env });
      expect(createMinerMetrics(cfg, log).backend).toBe("prometheus");
    }
    expect(createMinerMetrics(setup({ GRAIL_MONITORING_BACKEND: "null" }).cfg, setup({}).log).backend).toBe(
      "null",
    );
    expect(
      createMinerMetrics(setup({ GRAIL_MONITORING_BACKEND: "prometheus" }).cfg, setup({}).log).backend,
    ).toBe("prometheus");
  });
});
