import { createMetrics, MetricsError, type MonitoringLogger, type WandbOptions } from "@grail/metrics";
import { startWandbServer, type WandbCall, type WandbServer } from "@grail/metrics/testing";
import { afterEach, describe, expect, it } from "vitest";

/**
 * The wandb backend against a loopback server speaking @wandb/sdk's calls. The run lives in a
 * worker thread compiled to dist/: build the package first (pnpm --filter @grail/metrics build).
 */

const KEY = "k".repeat(40);
const servers: WandbServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function server(options: Parameters<typeof startWandbServer>[0] = {}) {
  const s = await startWandbServer(options);
  servers.push(s);
  return s;
}

/** A logger that keeps its lines and can wait for one. */
function recordingLogger() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const waiters: { match: string; resolve: (f: Record<string, unknown>) => void }[] = [];
  const record =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      lines.push({ level, message, fields });
      for (const w of waiters.filter((w) => message.startsWith(w.match))) w.resolve(fields);
    };
  const logger: MonitoringLogger = { notice: record("notice"), warn: record("warn"), debug: record("debug") };
  const waitFor = (match: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const seen = lines.find((l) => l.message.startsWith(match));
      if (seen) resolve(seen.fields);
      else waiters.push({ match, resolve });
    });
  return { logger, lines, waitFor };
}

function wandbOptions(url: string, logger: MonitoringLogger, over: Partial<WandbOptions> = {}): WandbOptions {
  return {
    apiKey: KEY,
    baseUrl: url,
    project: "grail",
    entity: "tplr",
    runName: "mining_cold",
    config: { operation_type: "mining", wallet_name: "cold", tags: ["grail", "mining"] },
    bufferSize: 3,
    flushIntervalMs: 3_600_000,
    initTimeoutMs: 30_000,
    logger,
    ...over,
  };
}

const historyPost = (c: WandbCall) =>
  c.operation === "file_stream" &&
  (c.body.files as Record<string, unknown> | undefined)?.["wandb-history.jsonl"] !== undefined;

describe("wandb backend", () => {
  it("sends a row under the Prometheus names once the buffer fills, and finishes the run on close", async () => {
    const wandb = await server();
    const log = recordingLogger();
    const sigint = process.listenerCount("SIGINT");
    const m = createMetrics({
      backend: "wandb",
      processMetrics: false,
      wandb: wandbOptions(wandb.url, log.logger),
    });
    expect(m.backend).toBe("wandb");

    m.chainBlock.set(5000);
    m.window.set(4980);
    m.rolloutsUploaded.inc(16);
    m.rolloutsDropped.inc("proof_failed", 16);
    expect(wandb.history()).toEqual([]);
    m.stageDuration.observe("proof", 2); // the third counted update fills the buffer
    await wandb.waitFor(historyPost);
    expect(wandb.history()).toHaveLength(1);
    expect(wandb.history()[0]).toMatchObject({
      grail_miner_rollouts_uploaded_total: 16,
      'grail_miner_rollouts_dropped_total{reason="proof_failed"}': 16,
      'grail_miner_rollouts_dropped_total{reason="window_closed"}': 0,
      'grail_miner_stage_duration_seconds_count{stage="proof"}': 1,
      'grail_miner_stage_duration_seconds_sum{stage="proof"}': 2,
      'grail_miner_stage_duration_seconds_mean{stage="proof"}': 2,
      grail_miner_window: 4980,
      grail_miner_chain_block_height: 5000,
      block_number: 5000,
      _step: 0,
    });
    expect(
      Object.keys(wandb.history()[0]!).some((k) => k.includes("_bucket") || k.startsWith("process_")),
    ).toBe(false);
    const started = await log.waitFor("W&B run started");
    // the SDK's signal handlers stay in its thread: SIGINT still finishes the miner's window
    expect(process.listenerCount("SIGINT")).toBe(sigint);

    m.rolloutsUploaded.inc(16);
    m.stageDuration.observe("proof", 4);
    await m.close();
    const history = wandb.history();
    expect(history).toHaveLength(2);
    expect(history[1]).toMatchObject({
      grail_miner_rollouts_uploaded_total: 32,
      'grail_miner_stage_duration_seconds_count{stage="proof"}': 2,
      'grail_miner_stage_duration_seconds_mean{stage="proof"}': 4,
      _step: 1,
    });

    expect(wandb.calls.map((c) => c.operation).filter((o) => o !== "file_stream")).toEqual([
      "Viewer",
      "UpsertBucket",
    ]);
    const upsert = wandb.calls.find((c) => c.operation === "UpsertBucket")!;
    expect(upsert.body).toMatchObject({ project: "grail", entity: "tplr", displayName: "mining_cold" });
    expect(JSON.parse(String(upsert.body.config))).toEqual({
      operation_type: "mining",
      wallet_name: "cold",
      tags: ["grail", "mining"],
    });
    for (const c of wandb.calls)
      expect(c.authorization).toBe(`Basic ${Buffer.from(`api:${KEY}`).toString("base64")}`);
    const runPath = `/files/tplr/grail/${String(upsert.body.name)}/file_stream`;
    expect(wandb.calls.at(-1)).toMatchObject({ path: runPath, body: { complete: true, exitcode: 0 } });
    expect(started).toMatchObject({
      url: `${wandb.url}/tplr/grail/runs/${String(upsert.body.name)}`,
      name: "mining_cold",
    });
    expect(log.lines.filter((l) => l.level === "warn")).toEqual([]);
  });

  it("a changed gauge alone goes out within the flush interval", async () => {
    const wandb = await server();
    const log = recordingLogger();
    const m = createMetrics({
      backend: "wandb",
      processMetrics: false,
      wandb: wandbOptions(wandb.url, log.logger, { bufferSize: 100, flushIntervalMs: 20, entity: null }),
    });
    m.windowBlocksLeft.set(12);
    await wandb.waitFor(historyPost);
    expect(wandb.history()[0]).toMatchObject({ grail_miner_window_blocks_left: 12 });
    await m.close();
    // without WANDB_ENTITY the run goes to the API key's own entity, which the Viewer query names
    expect(wandb.calls.at(-1)?.path).toMatch(/^\/files\/miner-team\/grail\/[a-z0-9]{8}\/file_stream$/);
  });

  it("a wrong API key: one warning with the server's answer, the metrics keep working, close returns", async () => {
    const wandb = await server({ fault: "viewer" });
    const log = recordingLogger();
    const m = createMetrics({
      backend: "wandb",
      processMetrics: false,
      wandb: wandbOptions(wandb.url, log.logger),
    });
    const warned = await log.waitFor("W&B run could not start");
    expect(warned.reason).toBe("Unable to determine default entity");
    expect(String(warned.client)).toContain("401");
    m.rolloutsUploaded.inc(5);
    expect(await m.render()).toContain("grail_miner_rollouts_uploaded_total 5");
    await m.close();
    expect(wandb.calls.map((c) => c.operation)).toEqual(["Viewer"]);
    expect(log.lines.filter((l) => l.level === "warn")).toHaveLength(1);
  });

  it("a server that refuses the run ends only the W&B thread, not the miner", async () => {
    const wandb = await server({ fault: "upsert" });
    const log = recordingLogger();
    const m = createMetrics({
      backend: "wandb",
      processMetrics: false,
      wandb: wandbOptions(wandb.url, log.logger),
    });
    const warned = await log.waitFor("W&B run could not start");
    expect(String(warned.reason)).toContain("Failed to upsert run");
    m.rolloutsUploaded.inc(5);
    await m.close();
    expect(await m.render()).toContain("grail_miner_rollouts_uploaded_total 5");
  });

  it("a server that never answers is given up after the init timeout", async () => {
    const wandb = await server({ fault: "hang" });
    const log = recordingLogger();
    const m = createMetrics({
      backend: "wandb",
      processMetrics: false,
      wandb: wandbOptions(wandb.url, log.logger, { initTimeoutMs: 200 }),
    });
    m.rolloutsUploaded.inc(3);
    const warned = await log.waitFor("W&B run could not start");
    expect(warned.reason).toBe("it did not start within 0.2 s (WANDB_INIT_TIMEOUT)");
    await m.close();
    expect(wandb.history()).toEqual([]);
  });

  it("needs its run options, with a buffer of at least one update", () => {
    expect(() => createMetrics({ backend: "wandb" })).toThrow(MetricsError);
    expect(() => createMetrics({ backend: "wandb" })).toThrow(/needs its run/);
    const bad = wandbOptions("http://127.0.0.1:1", recordingLogger().logger, { bufferSize: 0 });
    expect(() => createMetrics({ backend: "wandb", wandb: bad })).toThrow(
      /buffer size must be a whole number ≥ 1, got 0/,
    );
  });
});
