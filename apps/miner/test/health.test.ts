import { setTimeout as sleep } from "node:timers/promises";
import { StaleWeightsError } from "@grail/generation";
import { createMetrics, type MetricsServer, startMetricsServer } from "@grail/metrics";
import { type MiningProgress, type PoolHealth, ProofPool, type WindowReport } from "@grail/pipeline";
import { afterAll, describe, expect, it } from "vitest";
import {
  isAlive,
  poolOptions,
  testSigner,
  tinyModel,
  waitFor,
} from "../../../packages/pipeline/test/helpers.js";
import { evaluateHealth, GenerationCalls, type HealthInput, MinerHealth } from "../src/health.js";

const NOW = 1_700_000_000_000;
const WINDOW_MS = 360_000;

const pool = (over: Partial<PoolHealth> = {}): PoolHealth => ({
  topology: "subprocess",
  fellBackFrom: null,
  fallbackReason: null,
  workers: 4,
  alive: 4,
  recovering: 0,
  lost: 0,
  closing: false,
  ...over,
});

const input = (over: Partial<HealthInput> = {}): HealthInput => ({
  nowMs: NOW,
  phase: "mining",
  pool: pool(),
  generation: { state: "ready", lastSuccessMs: NOW - 5_000, lastFailureMs: null, lastError: null },
  silentForMs: 2_000,
  windowMs: WINDOW_MS,
  windowsMined: 7,
  lastWindow: 4_999_980,
  uploads: [{ window: 4_999_980, status: "uploaded" }],
  ...over,
});

const problems = (i: HealthInput) => (evaluateHealth(i).detail?.problems as string[] | undefined) ?? [];

describe("health evaluation", () => {
  it("is healthy while mining, with workers, the last window and the last upload in the detail", () => {
    expect(evaluateHealth(input())).toEqual({
      healthy: true,
      detail: {
        phase: "mining",
        proofWorkers: { alive: 4, total: 4, restarting: 0, lost: 0, topology: "subprocess" },
        generation: { state: "ready" },
        windowsMined: 7,
        lastWindowMined: 4_999_980,
        lastUpload: { window: 4_999_980, status: "uploaded" },
        secondsSinceProgress: 2,
      },
    });
  });

  it("is healthy during start-up and checkpoint loads, however long they take", () => {
    const starting = evaluateHealth(
      input({ phase: "starting", pool: null, generation: null, silentForMs: 40 * 60_000, uploads: [] }),
    );
    expect(starting.healthy).toBe(true);
    expect(starting.detail).toMatchObject({ proofWorkers: null, generation: null, lastUpload: null });
    expect(evaluateHealth(input({ phase: "loading", silentForMs: 20 * WINDOW_MS })).healthy).toBe(true);
    // A checkpoint switch in place: workers reloading count as alive.
    expect(evaluateHealth(input({ phase: "loading", pool: pool({ alive: 4 }) })).healthy).toBe(true);
  });

  it("is unhealthy when no proof worker is alive, naming how many restart or were given up", () => {
    expect(problems(input({ pool: pool({ alive: 0, recovering: 3, lost: 1 }) }))).toEqual([
      "no proof worker is alive: 3 of 4 restarting, 1 given up",
    ]);
    expect(evaluateHealth(input({ pool: pool({ alive: 1, lost: 3 }) })).healthy).toBe(true);
    // Shutting down is not a failure.
    expect(evaluateHealth(input({ pool: pool({ alive: 0, lost: 4, closing: true }) })).healthy).toBe(true);
  });

  it("warns, but stays healthy, when the proof workers fell back to in-process", () => {
    const report = evaluateHealth(
      input({
        pool: pool({ topology: "in-process", fellBackFrom: "subprocess", fallbackReason: "spawn EACCES" }),
      }),
    );
    expect(report.healthy).toBe(true);
    expect(report.detail?.warnings).toEqual([
      "proof workers run in-process instead of subprocess: spawn EACCES",
    ]);
  });

  it("is unhealthy when the generation server's supervisor gave up or the last request failed recently", () => {
    expect(
      problems(
        input({
          generation: { state: "failed", lastSuccessMs: NOW - 1, lastFailureMs: null, lastError: null },
        }),
      ),
    ).toEqual(["the generation server crashed repeatedly and its supervisor gave up"]);
    const failing = {
      state: "ready",
      lastSuccessMs: NOW - 60_000,
      lastFailureMs: NOW - 30_000,
      lastError: "ECONNREFUSED",
    };
    expect(problems(input({ generation: failing }))).toEqual([
      "the last generation request failed 30 s ago: ECONNREFUSED",
    ]);
    // A later success clears it, and so does time without another failure.
    expect(evaluateHealth(input({ generation: { ...failing, lastSuccessMs: NOW - 1_000 } })).healthy).toBe(
      true,
    );
    expect(evaluateHealth(input({ generation: { ...failing, lastFailureMs: NOW - 121_000 } })).healthy).toBe(
      true,
    );
    // A restart in progress is not a failure by itself.
    expect(
      evaluateHealth(input({ generation: { ...failing, state: "restarting", lastFailureMs: null } })).healthy,
    ).toBe(true);
  });

  it("is unhealthy when the window loop is silent for more than 1.5 windows while mining or waiting", () => {
    expect(evaluateHealth(input({ phase: "waiting", silentForMs: WINDOW_MS })).healthy).toBe(true);
    expect(problems(input({ phase: "waiting", silentForMs: 1.5 * WINDOW_MS + 1_000 }))).toEqual([
      "the window loop made no progress for 541 s (limit 540 s, 1.5 windows)",
    ]);
    expect(evaluateHealth(input({ phase: "uploading", silentForMs: 2 * WINDOW_MS })).healthy).toBe(false);
    expect(evaluateHealth(input({ phase: "stopping", silentForMs: 2 * WINDOW_MS })).healthy).toBe(true);
  });

  it("is unhealthy after three failed uploads in a row, healthy again after one succeeds", () => {
    const failed = (window: number) => ({ window, status: "failed" as const, error: "503 from the store" });
    expect(evaluateHealth(input({ uploads: [failed(30), failed(60)] })).healthy).toBe(true);
    expect(problems(input({ uploads: [failed(30), failed(60), failed(90)] }))).toEqual([
      "the last 3 window uploads failed (windows 30, 60, 90): 503 from the store",
    ]);
    expect(
      evaluateHealth(
        input({ uploads: [failed(30), failed(60), failed(90), { window: 120, status: "uploaded" }] }),
      ).healthy,
    ).toBe(true);
  });

  it("reports every problem at once", () => {
    expect(
      problems(
        input({
          pool: pool({ alive: 0, recovering: 4 }),
          generation: { state: "failed", lastSuccessMs: null, lastFailureMs: null, lastError: null },
        }),
      ),
    ).toHaveLength(2);
  });
});

describe("generation call tracking", () => {
  it("records successes and failures, but not the engine's own stale-weights refusals", async () => {
    let now = 1_000;
    const calls = new GenerationCalls(() => now);
    let mode: "ok" | "down" | "stale" = "ok";
    const port = calls.track({
      loadedCheckpoint: "/ckpt/30",
      generate: async () => {
        if (mode === "down") throw new Error("connect ECONNREFUSED 127.0.0.1:30000");
        if (mode === "stale") throw new StaleWeightsError("holds another checkpoint", {});
        return [];
      },
      syncWeights: async () => ({ method: "in-place", durationMs: 1 }),
    });
    expect(port.loadedCheckpoint).toBe("/ckpt/30");
    await port.generate([], {} as never, { expectCheckpoint: "/ckpt/30" });
    expect(calls.lastSuccessMs).toBe(1_000);
    now = 2_000;
    mode = "down";
    await expect(port.generate([], {} as never, { expectCheckpoint: "/ckpt/30" })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    expect(calls).toMatchObject({ lastFailureMs: 2_000, lastError: "connect ECONNREFUSED 127.0.0.1:30000" });
    now = 3_000;
    mode = "stale";
    await expect(port.generate([], {} as never, { expectCheckpoint: "/ckpt/30" })).rejects.toThrow(
      StaleWeightsError,
    );
    expect(calls.lastFailureMs).toBe(2_000);
  });
});

const progress = (over: Partial<MiningProgress> = {}): MiningProgress => ({
  phase: "mining",
  window: 90,
  block: 95,
  blocksLeft: 25,
  checkpointWindow: 60,
  groupsGenerated: 0,
  groupsProved: 0,
  groupsPackaged: 0,
  groupsDropped: 0,
  rolloutsPackaged: 0,
  rolloutsPerSecond: 0,
  upload: "idle",
  lastUploadedWindow: null,
  windowsMined: 0,
  ...over,
});

describe("miner health: upload results from the engine's window reports", () => {
  it("takes each upload's final result, after its retries", async () => {
    const listeners: ((r: WindowReport) => void)[] = [];
    const health = new MinerHealth(
      {
        progress: () => progress(),
        pool: () => pool(),
        generationState: () => "ready",
        generationCalls: new GenerationCalls(),
        silentForMs: () => 0,
        blockSeconds: () => 12,
      },
      { stallWindows: 1.5, generationFailureMs: 120_000, failedUploads: 2 },
    );
    health.watch({
      onWindow: (l) => {
        listeners.push(l);
        return () => undefined;
      },
    });
    const report = (windowStart: number, status: "uploaded" | "failed", retrying = false): WindowReport => {
      const outcome = {
        windowStart,
        status,
        rows: 16,
        size: 1,
        key: "k",
        durationMs: 1,
        writeMs: 1,
        retrying,
      };
      return {
        windowStart,
        checkpointWindow: 0,
        run: {} as WindowReport["run"],
        upload: {
          ...outcome,
          final: Promise.resolve({
            ...outcome,
            status: "failed" as const,
            error: "store down",
            final: null as never,
          }),
        },
      };
    };
    for (const l of listeners) l(report(30, "failed", true));
    for (const l of listeners) l(report(60, "failed", true));
    await sleep(0);
    const verdict = health.report();
    expect(verdict.healthy).toBe(false);
    expect(verdict.detail).toMatchObject({
      lastWindowMined: 60,
      lastUpload: { window: 60, status: "failed", error: "store down" },
    });
  });
});

describe("/healthz with real proof workers", () => {
  const servers: MetricsServer[] = [];
  const pools: ProofPool[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(pools.map((p) => p.shutdown()));
  });

  it("answers 503 naming the proof workers when all are killed, and 200 once they are restarted", async () => {
    const proofs = await ProofPool.start(
      poolOptions(tinyModel(), await testSigner(), { restartBackoffMs: [1_500] }),
    );
    pools.push(proofs);
    const health = new MinerHealth({
      progress: () => progress(),
      pool: () => proofs.health(),
      generationState: () => "ready",
      generationCalls: new GenerationCalls(),
      silentForMs: () => 1_000,
      blockSeconds: () => 12,
    });
    const server = await startMetricsServer({
      metrics: createMetrics({ backend: "null" }),
      host: "127.0.0.1",
      port: 0,
      health: () => health.report(),
    });
    servers.push(server);
    const healthz = async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    const before = await healthz();
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ status: "ok", proofWorkers: { alive: 2, total: 2 } });

    const pids = proofs.stats().workers.map((w) => w.pid!);
    for (const pid of pids) process.kill(pid, "SIGKILL");
    await waitFor(() => pids.every((p) => !isAlive(p)), 10_000, "the workers to die");
    let down = await healthz();
    for (let i = 0; i < 100 && down.status === 200; i++) {
      await sleep(20);
      down = await healthz();
    }
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({
      status: "unhealthy",
      problems: ["no proof worker is alive: 2 of 2 restarting, 0 given up"],
      proofWorkers: { alive: 0, total: 2, restarting: 2 },
    });

    await waitFor(() => proofs.health().alive === 2, 20_000, "the workers to restart");
    const after = await healthz();
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ status: "ok", proofWorkers: { alive: 2, total: 2, restarting: 0 } });
  });
});
