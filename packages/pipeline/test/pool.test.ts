import { spawnSync } from "node:child_process";
import { readBuildInfo } from "@grail/engine-native";
import { describe, expect, it } from "vitest";
import {
  InvalidGroupError,
  PoolClosedError,
  type PoolEvent,
  PoolStartError,
  ProofPool,
  type ProvedGroup,
} from "../src/pool/index.js";
import {
  captureLogger,
  entryPoints,
  expectMatchesReference,
  isAlive,
  makeGroups,
  poolOptions,
  processEnv,
  referenceProofs,
  testSigner,
  tinyModel,
} from "./helpers.js";

const CTX = { randomnessHex: "9f".repeat(32), modelName: "test/tiny-qwen2", checkpointWindow: 30 };

function fulfilled(results: PromiseSettledResult<ProvedGroup>[]): ProvedGroup[] {
  return results.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  });
}

describe("proof pool: topologies agree bit for bit", () => {
  it("a window's groups proved by 3 worker processes equal in-process proofs (threads and direct engine)", async () => {
    const signer = await testSigner();
    const dir = tinyModel();
    const groups = makeGroups(24, 1);
    const reference = await referenceProofs(dir, groups, CTX);

    const events: PoolEvent[] = [];
    const pool = await ProofPool.start(
      poolOptions(dir, signer, { gpus: [0, 1, 2], cudaVisibleDevices: "5,6,7" }),
    );
    pool.on((e) => events.push(e));
    const workers = pool.stats().workers;
    expect(pool.topology).toBe("subprocess");
    const pids = workers.map((w) => w.pid!);
    expect(new Set(pids).size).toBe(3);
    expect(pids).not.toContain(process.pid);
    // Each child sees exactly its own physical GPU (relative index → CUDA_VISIBLE_DEVICES entry).
    expect(pids.map((p) => processEnv(p).CUDA_VISIBLE_DEVICES)).toEqual(["5", "6", "7"]);

    const viaProcesses = fulfilled(await pool.proveGroups(groups, CTX));
    for (const g of viaProcesses) expectMatchesReference(g, reference, signer);
    expect(viaProcesses.map((g) => g.groupId)).toEqual(groups.map((g) => g.groupId));
    const perGpu = new Map<number, number>();
    for (const g of viaProcesses) perGpu.set(g.gpu, (perGpu.get(g.gpu) ?? 0) + 1);
    expect([...perGpu.keys()].sort()).toEqual([0, 1, 2]);
    expect(events.filter((e) => e.type === "dispatched")).toHaveLength(24);
    expect(pool.stats()).toMatchObject({ pending: 0, proved: 24, retried: 0, dropped: 0 });
    await pool.shutdown();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);

    const threads = await ProofPool.start(poolOptions(dir, signer, { topology: "in-process" }));
    expect(threads.topology).toBe("in-process");
    expect(threads.stats().workers.map((w) => w.pid)).toEqual([process.pid, process.pid]);
    const viaThreads = fulfilled(await threads.proveGroups(groups, CTX));
    await threads.shutdown();
    viaThreads.forEach((g, i) => {
      expectMatchesReference(g, reference, signer);
      expect(g.rollouts.map((r) => r.sVals)).toEqual(viaProcesses[i]!.rollouts.map((r) => r.sVals));
      expect(g.rollouts.map((r) => r.logprobs)).toEqual(viaProcesses[i]!.rollouts.map((r) => r.logprobs));
    });
  });

  it("falls back to in-process workers with a warning when worker processes cannot start", async () => {
    const signer = await testSigner();
    const dir = tinyModel();
    const logger = captureLogger();
    const events: PoolEvent[] = [];
    const options = poolOptions(dir, signer, {
      logger,
      entryPoints: { ...poolOptions(dir, signer).entryPoints, main: "/nonexistent/worker/main.js" },
    });
    const pool = await ProofPool.start(options);
    pool.on((e) => events.push(e));
    expect(pool.topology).toBe("in-process");
    const warning = logger.lines.find(
      (l) => l.level === "warn" && /falling back to in-process/.test(l.message),
    );
    expect(warning?.fields.error).toMatch(/before saying hello/);
    const groups = makeGroups(2, 3);
    const reference = await referenceProofs(dir, groups, CTX);
    for (const g of fulfilled(await pool.proveGroups(groups, CTX)))
      expectMatchesReference(g, reference, signer);
    await pool.shutdown();

    await expect(ProofPool.start({ ...options, fallbackToInProcess: false })).rejects.toBeInstanceOf(
      PoolStartError,
    );
    await expect(
      ProofPool.start({ ...options, model: { modelDir: "/nonexistent/model", checkpointWindow: 0 } }),
    ).rejects.toThrow(/as processes .* and in-process/);
  });

  it.skipIf(readBuildInfo().cuda.built)(
    "workers asked for CUDA on a CPU-only build fail the start with the build's recorded reason",
    async () => {
      const signer = await testSigner();
      const dir = tinyModel();
      const reason = readBuildInfo().cuda.reason ?? "";
      const err = await ProofPool.start(poolOptions(dir, signer, { backend: "cuda", gpus: [0] })).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PoolStartError);
      // Both the worker process and the in-process fallback refuse: no silent CPU proofs.
      expect((err as Error).message).toMatch(/as processes .* and in-process/);
      expect((err as Error).message).toContain(`the CUDA backend is not available: ${reason}`);
    },
  );

  it("rejects unprovable input up front and every group once shut down", async () => {
    const signer = await testSigner();
    const dir = tinyModel();
    const pool = await ProofPool.start(poolOptions(dir, signer, { gpus: [0] }));
    await expect(pool.proveGroup({ groupId: "empty", rollouts: [] }, CTX)).rejects.toBeInstanceOf(
      InvalidGroupError,
    );
    await expect(
      pool.proveGroup({ groupId: "short", rollouts: [{ tokens: [1, 2, 3], promptLen: 4 }] }, CTX),
    ).rejects.toThrow(/promptLen 4/);
    await expect(
      pool.proveGroup({ groupId: "neg", rollouts: [{ tokens: [1, -2, 3], promptLen: 1 }] }, CTX),
    ).rejects.toThrow(/token -2/);
    // Groups still queued when the pool stops are dropped, not left hanging.
    const pending = pool.proveGroups(makeGroups(6, 4), CTX);
    await pool.shutdown();
    const settled = await pending;
    for (const r of settled) {
      if (r.status === "rejected") expect(r.reason).toBeInstanceOf(PoolClosedError);
    }
    expect(settled.some((r) => r.status === "rejected")).toBe(true);
    await expect(pool.proveGroup(makeGroups(1, 5)[0]!, CTX)).rejects.toBeInstanceOf(PoolClosedError);
  });

  it.skipIf(spawnSync("python3", ["--version"]).status !== 0)(
    "starts torch-engine GPUs with the Python worker, pinned like native ones",
    async () => {
      const signer = await testSigner();
      const dir = tinyModel();
      const logger = captureLogger();
      const hasTorch = spawnSync("python3", ["-c", "import torch, transformers"]).status === 0;
      const pool = await ProofPool.start(
        poolOptions(dir, signer, { logger, engineByGpu: { 1: "torch" }, cudaVisibleDevices: "2,3" }),
      );
      const spec = pool.spawnSpec({ gpu: 1, engine: "torch" });
      expect(spec.command).toBe("python3");
      expect(spec.args).toEqual([entryPoints.torch]);
      expect(spec.env).toMatchObject({
        CUDA_VISIBLE_DEVICES: "3",
        GRAIL_WORKER_IPC: "1",
        GRAIL_WORKER_GPU: "1",
      });
      if (!hasTorch) {
        // Without torch the Python worker starts, says hello, and fails the load with the reason;
        // the pool then falls back to in-process (native) workers, as for any startup failure.
        expect(pool.topology).toBe("in-process");
        const warn = logger.lines.find((l) => /falling back/.test(l.message));
        expect(warn?.fields.error).toMatch(
          /GPU 1: the worker could not load .*load_failed: the torch worker needs torch/,
        );
        expect(pool.stats().workers.map((w) => w.engine)).toEqual(["native", "native"]);
      } else {
        expect(pool.stats().workers.map((w) => w.engine)).toEqual(["native", "torch"]);
      }
      const groups = makeGroups(2, 6);
      const results = await pool.proveGroups(groups, CTX);
      expect(results.every((r) => r.status === "fulfilled")).toBe(true);
      await pool.shutdown();
    },
  );
});
