import { existsSync } from "node:fs";
import { join } from "node:path";
import { encodeFrame, IPC_PROTOCOL_VERSION } from "@grail/ipc";
import { describe, expect, it } from "vitest";
import {
  type GroupDroppedError,
  PoolStartError,
  ProofPool,
  physicalGpuId,
  SubprocessWorker,
} from "../src/pool/index.js";
import {
  captureLogger,
  entryPoints,
  makeGroups,
  poolOptions,
  repoRoot,
  tempDir,
  testSigner,
  tinyModel,
} from "./helpers.js";

const CTX = { randomnessHex: "0d".repeat(32), modelName: "m", checkpointWindow: 30 };
const rogue = join(repoRoot, "packages/pipeline/test/fixtures/rogue-worker.mjs");

async function rogueResult(mode: string, extra = {}) {
  const signer = await testSigner();
  const logger = captureLogger();
  const pool = await ProofPool.start(
    poolOptions(tinyModel(), signer, {
      gpus: [0],
      logger,
      fallbackToInProcess: false,
      env: { ...process.env, ROGUE_MODE: mode },
      entryPoints: { ...entryPoints, main: rogue },
      ...extra,
    }),
  );
  const [r] = await pool.proveGroups(makeGroups(1, 1), CTX);
  await pool.shutdown();
  return { r: r!, logger };
}

describe("proof pool: defensive checks on what workers say", () => {
  it("never signs a binding that does not match the returned sketches", async () => {
    const { r, logger } = await rogueResult("bad-binding");
    expect(r.status).toBe("rejected");
    const reason = ((r as PromiseRejectedResult).reason as GroupDroppedError).reason;
    expect(reason).toMatch(
      /commit binding does not match the returned sketches \(commitments hash differs\)/,
    );
    expect(logger.lines.some((l) => l.message === "group dropped")).toBe(true);
  });

  it("discards results tagged with another checkpoint", async () => {
    const { r } = await rogueResult("wrong-tag");
    expect(((r as PromiseRejectedResult).reason as GroupDroppedError).reason).toMatch(
      /tagged with checkpoint 60, expected 30; discarded/,
    );
  });

  it("never signs NaN logprobs", async () => {
    // Bindings unchecked: only the finiteness check stands between the worker and the signature.
    const { r } = await rogueResult("nan-logprobs", { verifyBindings: false });
    expect(r.status).toBe("rejected");
    expect(((r as PromiseRejectedResult).reason as GroupDroppedError).reason).toMatch(
      /failed 2 times; last: rollout 0: logprob 0 is NaN; the worker's model or device is broken/,
    );
  });

  it("kills a worker that sends undecodable replies and re-dispatches", async () => {
    const { r, logger } = await rogueResult("garbage");
    expect(((r as PromiseRejectedResult).reason as GroupDroppedError).reason).toMatch(/undecodable frame/);
    expect(logger.lines.filter((l) => l.message === "proof worker exited").length).toBeGreaterThanOrEqual(1);
  });

  it("kills a worker whose batch outlives the job timeout although it answers health checks", async () => {
    const { r, logger } = await rogueResult("stall", { jobTimeoutMs: 300 });
    expect(((r as PromiseRejectedResult).reason as GroupDroppedError).reason).toMatch(
      /failed 2 times; last: .*a batch took longer than 300 ms \(hung worker\)/,
    );
    expect(logger.lines.filter((l) => l.message === "killing proof worker").length).toBe(2);
  });

  it("refuses workers that speak another protocol version or never say hello", async () => {
    const signer = await testSigner();
    const base = poolOptions(tinyModel(), signer, {
      gpus: [0],
      fallbackToInProcess: false,
      entryPoints: { ...entryPoints, main: rogue },
      helloTimeoutMs: 500,
    });
    await expect(
      ProofPool.start({ ...base, env: { ...process.env, ROGUE_MODE: "bad-version" } }),
    ).rejects.toThrow(/speaks IPC protocol 99, the pool 1/);
    await expect(
      ProofPool.start({ ...base, env: { ...process.env, ROGUE_MODE: "silent" } }),
    ).rejects.toBeInstanceOf(PoolStartError);
  });

  it("a corrupted reply to the first load is retried instead of failing the pool's start", async () => {
    const signer = await testSigner();
    const logger = captureLogger();
    const state = join(tempDir(), "corrupted");
    const pool = await ProofPool.start(
      poolOptions(tinyModel(), signer, {
        gpus: [0],
        logger,
        fallbackToInProcess: false,
        env: { ...process.env, ROGUE_MODE: "garbage-loaded-once", ROGUE_STATE: state },
        entryPoints: { ...entryPoints, main: rogue },
      }),
    );
    try {
      expect(existsSync(state)).toBe(true);
      expect(pool.health()).toMatchObject({ topology: "subprocess", alive: 1, fellBackFrom: null });
      const retry = logger.lines.find((l) => l.message === "proof worker failed to start; trying again");
      expect(retry?.fields).toMatchObject({ attempt: 1, attempts: 3 });
      expect(String(retry?.fields.error)).toMatch(/undecodable frame/);
    } finally {
      await pool.shutdown();
    }
  });

  it("a worker that refuses the model fails the start at once, without retries", async () => {
    const logger = captureLogger();
    await expect(
      ProofPool.start(
        poolOptions(join(tempDir(), "no-model"), await testSigner(), {
          gpus: [0],
          logger,
          fallbackToInProcess: false,
        }),
      ),
    ).rejects.toThrow(/could not load/);
    expect(logger.lines.some((l) => l.message === "proof worker failed to start; trying again")).toBe(false);
  });

  it("a worker answers malformed frames with errors and keeps serving requests", async () => {
    const logger = captureLogger();
    const worker = await SubprocessWorker.start({
      spec: {
        command: process.execPath,
        args: [entryPoints.main],
        env: { ...process.env, GRAIL_WORKER_IPC: "1" },
      },
      logger,
      helloTimeoutMs: 10_000,
    });
    worker.writeRaw(Buffer.from([6, 0, 0, 0, 2, 0, 0, 0, 0x7b, 0x7d]));
    worker.writeRaw(encodeFrame({ type: "teleport", id: 999 }));
    const status = await worker.request({ type: "health" });
    expect(status).toMatchObject({ type: "status", state: "empty" });
    const loaded = await worker.request({
      type: "load",
      protocolVersion: IPC_PROTOCOL_VERSION,
      modelDir: tinyModel(),
      checkpointWindow: 0,
      backend: "cpu",
    });
    expect(loaded.type).toBe("loaded");
    expect(logger.lines.some((l) => /unidentifiable request/.test(l.message))).toBe(true);
    expect(logger.lines.some((l) => l.message === "reply to an unknown request" && l.fields.id === 999)).toBe(
      true,
    );
    const exit = await worker.close(2_000);
    expect(exit.code).toBe(0);
  });

  it("maps proof GPU indices through the coordinator's CUDA_VISIBLE_DEVICES", () => {
    expect(physicalGpuId(1, undefined)).toBe("1");
    expect(physicalGpuId(1, "")).toBe("1");
    expect(physicalGpuId(0, "3,5")).toBe("3");
    expect(physicalGpuId(1, " 3 , GPU-uuid-5 ")).toBe("GPU-uuid-5");
    expect(() => physicalGpuId(2, "3,5")).toThrow(
      /proof GPU 2 is not visible: CUDA_VISIBLE_DEVICES=3,5 lists 2/,
    );
    expect(() => physicalGpuId(-1, null)).toThrow(/whole number/);
  });
});
